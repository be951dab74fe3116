"""One lock between torch.fx's symbolic tracing and every other use of a module in this process.

While torch.fx.symbolic_trace traces a model it patches torch.nn.Module.__call__ for the whole process,
so a module called from another thread meanwhile runs through that tracer and fails ("module is not
installed as a submodule"). The window runs jobs on several threads at once (opening a model while the
last one is measured, the warm-up, an export): tracing holds this lock, and so does each batch a job
runs and each short whole-model step (export, Torch-Pruning's graph walk), so they take turns."""

from __future__ import annotations

import threading

MODULE_LOCK = threading.RLock()

# Moving an ONNX model's external weights into its proto (formats.load_onnx.full_onnx). A fork holds
# every lock here, so that no child starts with one taken by a thread that does not exist in it.
INLINE_LOCK = threading.Lock()
FORK_LOCKS = (MODULE_LOCK, INLINE_LOCK)
