"""torch.fx patches torch.nn.Module.__call__ for the whole process while it traces a model's graph: jobs
on other threads (measuring, training, the window's warm-up) must not call a module meanwhile."""

import threading

import numpy as np

from studio.core.evaluate.runtime import predict_module
from studio.core.formats.load import load_model
from studio.core.formats.samples import build_sample, sample_input
from studio.core.inspect.graph_torch import module_graph


def test_tracing_a_graph_while_another_thread_runs_a_model():
    traced = load_model("sample:lenet-5")
    other = build_sample("lenet-5")
    x = sample_input("lenet-5", 4).numpy()
    errors, stop = [], threading.Event()

    def predicting():
        while not stop.is_set():
            try:
                predict_module(other, [x])
            except Exception as e:  # noqa: BLE001 - any failure here is the bug
                errors.append(e)
                return

    thread = threading.Thread(target=predicting)
    thread.start()
    try:
        for _ in range(30):
            assert len(module_graph(traced).nodes) > 5
    finally:
        stop.set()
        thread.join()
    assert not errors, errors[0]
    assert np.isfinite(predict_module(other, [x])).all()
