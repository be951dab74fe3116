"""The Getting Started guide's steps, each with the window's own actions as buttons (Help → Getting
Started; studio.gui.help.getting_started lays them out)."""

from __future__ import annotations

from studio.gui.common.widgets import button
from studio.gui.help.getting_started import GettingStarted, action_button

GUIDE_SAMPLE = "sample:lenet-5"  # the sample the guide offers in one click


def make_guide(window) -> GettingStarted:
    c = window.compression
    guide = GettingStarted(window)
    samples = button("Other samples", "The bundled samples: models trained on handwritten digits", lambda: None)
    samples.setMenu(window.samples_menu)
    guide.add_step("Open a model", "Open your own model file (ONNX, PyTorch, TorchScript or .pt2), or drop it on the "
                   "window. Or try a sample: LeNet-5 reads handwritten digits.", [
                       action_button(window.open_action),
                       button("Try LeNet-5", f"Open {GUIDE_SAMPLE}, with the digits it learned on", lambda: window.open_asked(GUIDE_SAMPLE)),
                       samples])
    guide.add_step("Choose data", "Compressing trains and measures on examples; a sample brings its own. For your model, "
                   "choose a .npz or .csv file, or a folder of images with one subfolder per class, under Data in the "
                   "toolbar.",
                   [button("Choose data…", "Open the toolbar's Data list", lambda: _choose_data(window))])
    ways = [name for name in ("prune", "quantize", "distill", "auto") if name in c.actions]
    search = " Make it smaller finds the recipe for a goal you give." if "auto" in ways else ""
    guide.add_step("Compress it", "Prune sets the least important weights to zero, Quantize stores them in fewer bits, "
                   f"Distill trains a small student to imitate the model.{search} Each opens its settings on the right; "
                   "Run makes a new version, and the model you opened stays as it was.",
                   [action_button(c.actions[name]) for name in ways])
    guide.add_step("Compare the versions", "The Versions panel lists every version with its size and accuracy; click one "
                   "to see it everywhere. Its chart shows the best: up and to the left.",
                   [button("Show the versions", "Bring the Versions panel to the front", lambda: _show_versions(window))])
    guide.add_step("Export", "Export writes a version as an ONNX file, measures its size, accuracy and speed in ONNX "
                   "Runtime, and writes a model card beside it that says what was done.",
                   [action_button(c.export_action)])
    words = guide.buttons.addButton("Glossary…", guide.buttons.ButtonRole.HelpRole)
    words.setToolTip("What the words the studio uses mean")
    words.clicked.connect(lambda: window.show_glossary())
    return guide


def _choose_data(window) -> None:
    data = window.compression.picker.data
    data.setFocus()
    data.showPopup()


def _show_versions(window) -> None:
    dock = window.compression.versions_dock
    dock.show()
    dock.raise_()
