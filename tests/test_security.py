"""No code from a model, data or project file runs without trust; the studio makes no network connections."""

import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.core.compress.distill import make_student
from studio.core.errors import StudioError, TrustRequired
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model


class Payload:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "code ran"))


@pytest.fixture
def evil(tmp_path):
    target = tmp_path / "payload-ran.txt"
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload(target)}, path)
    yield path, target
    assert not target.exists(), "a payload ran"


def test_model_loader_refuses(evil):
    with pytest.raises(TrustRequired):
        load_model(str(evil[0]))


def test_student_file_refuses(evil):
    with pytest.raises(TrustRequired):
        make_student(load_model("sample:digits-cnn"), {"model": str(evil[0])})


def test_project_weights_that_are_pickles_are_refused(evil, tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "v0.safetensors").write_bytes(evil[0].read_bytes())
    (folder / "v1.onnx").write_bytes(evil[0].read_bytes())
    doc = {"format_version": 1, "data": None, "device": "cpu", "current": 0, "charts": {}, "versions": [
        {"id": 0, "parent": None, "label": "v0", "op": "load", "options": {}, "step_label": "original", "metrics": {},
         "format": "onnx", "source": "x", "inputs": [], "weights": "v1.onnx", "logits": None}]}
    (folder / "project.json").write_text(json.dumps(doc))
    from studio.core.project.project_file import open_project

    with pytest.raises(StudioError):
        open_project(folder)


def test_data_files_never_unpickle(tmp_path, evil):
    np.save(tmp_path / "x.npy", np.array([Payload(evil[1])], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "d.npz", x=np.array([Payload(evil[1])], dtype=object))
    with pytest.raises(StudioError):
        load_data(str(tmp_path / "d.npz"))


def test_legacy_pickle_format_refuses(tmp_path, evil):
    path = tmp_path / "legacy.pkl"
    path.write_bytes(pickle.dumps(Payload(evil[1])))
    with pytest.raises(TrustRequired):
        load_model(str(path))


def test_the_studio_makes_no_network_connections(monkeypatch, tmp_path):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    from studio.core.process.jobs import run_to_end
    from studio.core.project.recipe import parse_recipe, run_recipe

    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits",
                           "steps": [{"prune": {"sparsity": 0.5}}, {"quantize": {"mode": "static", "samples": 16}}],
                           "export": {"path": str(tmp_path / "m.onnx"), "zip": True}})
    result = run_to_end(run_recipe(recipe))
    assert result.export["size_bytes"] > 0
    assert attempts == []
