"""Help → About: what the studio is, its version and those of the libraries it runs on."""

from __future__ import annotations

ABOUT = ("Compression Studio makes trained neural networks smaller and faster: open a model, see where its weights "
         "and zeros are, then prune, quantize or distil it and export an ONNX file whose size, accuracy and speed "
         "were measured in ONNX Runtime.")


def about_text() -> str:
    """What the studio is, its version and those of the libraries it runs on (read from their installed
    metadata: nothing is imported, torch would take seconds)."""
    import platform

    import PySide6
    from PySide6.QtCore import qVersion

    rows = [("PyTorch", _version("torch")), ("ONNX", _version("onnx")), ("ONNX Runtime", _version("onnxruntime", "onnxruntime-gpu")),
            ("PySide6", PySide6.__version__), ("Qt", qVersion()), ("Python", platform.python_version())]
    table = "".join(f"<tr><td>{name}</td><td>&nbsp;&nbsp;{version}</td></tr>" for name, version in rows)
    return (f"<p><b>Compression Studio {_version('compression-studio')}</b></p><p>{ABOUT}</p>"
            f"<p>Running on:</p><table>{table}</table>")


def _version(*distributions: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in distributions:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "not installed"
