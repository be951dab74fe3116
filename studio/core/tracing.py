"""One lock between torch.fx's symbolic tracing and every other use of a module in this process.

While torch.fx.symbolic_trace traces a model it patches torch.nn.Module.__call__ for the whole process,
so a module called from another thread meanwhile runs through that tracer and fails ("module is not
installed as a submodule"). The window runs jobs on several threads at once (opening a model while the
last one is measured, the warm-up, an export): tracing holds this lock, and so does each batch a job
runs and each short whole-model step (export, Torch-Pruning's graph walk), so they take turns."""

from __future__ import annotations

import threading

MODULE_LOCK = threading.RLock()
