import numpy as np
import torch

from studio.core.evaluate.runtime import predict
from studio.core.formats.load import load_model
from studio.core.formats.samples import build_sample, sample_input


def test_an_onnx_file_with_a_fixed_batch_size_runs_on_any_number_of_examples(tmp_path):
    module = build_sample("digits-cnn")
    for batch in (1, 8):
        path = tmp_path / f"fixed{batch}.onnx"
        torch.onnx.export(module, (sample_input("digits-cnn", batch),), path, dynamo=False)
        model = load_model(str(path))
        x = np.random.default_rng(0).random((21, 1, 8, 8), dtype=np.float32)
        out = predict(model, {model.inputs[0].name: x})
        with torch.no_grad():
            expected = module(torch.from_numpy(x)).numpy()
        assert out.shape == (21, 10) and np.allclose(out, expected, atol=1e-4)
