"""Layer-by-layer distillation of a Hugging Face encoder (compress/layers): the student's hidden states learn
the teacher's, the teacher runs on each batch cut to its longest sentence, the hooks go when training ends;
a student keeping every other encoder layer (distill's {layers: n}) starts from the teacher's layers 0, 2…"""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from hf_folders import moved_away, sentences, tiny_bert  # noqa: E402

from studio.core.compress.channels import channels  # noqa: E402
from studio.core.compress.distill import distill, make_student  # noqa: E402
from studio.core.compress.finetune import finetune  # noqa: E402
from studio.core.compress.layers import LayerMatch, layer_match, layer_pairs, made_from  # noqa: E402
from studio.core.compress.train import train  # noqa: E402
from studio.core.errors import StudioError  # noqa: E402
from studio.core.evaluate.data import load_data  # noqa: E402
from studio.core.formats.load import load_model  # noqa: E402
from studio.core.formats.load_onnx import full_onnx  # noqa: E402
from studio.core.formats.to_onnx import to_onnx  # noqa: E402
from studio.core.process.jobs import NO_CANCEL, run_to_end  # noqa: E402


def deeper_bert(folder, layers: int = 4, seed: int = 0):
    """The tiny sentence BERT with `layers` encoder layers of 4 heads."""
    import transformers

    tiny_bert(folder, "sentence")
    config = transformers.AutoConfig.from_pretrained(folder)
    config.num_hidden_layers, config.num_attention_heads, config.intermediate_size = layers, 4, 64
    torch.manual_seed(seed)
    transformers.BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    return load_model(str(deeper_bert(tmp_path_factory.mktemp("layers") / "bert")))


@pytest.fixture(scope="module")
def text(bert, tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "s.txt"
    path.write_text("\n".join(sentences(80)[0]) + "\n")
    return load_data({"path": str(path), "labels": "none"}, tokenizer=bert.tokenizer)


def hooked(module: torch.nn.Module) -> list[str]:
    return [name for name, m in module.named_modules() if m._forward_hooks]


def test_the_teacher_matches_itself_and_padding_is_cut(bert, text):
    x = [torch.from_numpy(a) for a in text.shaped_for(bert.inputs).x.values()]
    padded = [torch.cat([a[:8], torch.zeros(8, 5, dtype=a.dtype)], 1) for a in x]  # 5 more columns of padding
    student = copy.deepcopy(bert.module)
    match = layer_match(student, bert.inputs, bert)
    assert match is not None and match.pairs == [(0, 0), (1, 1), (2, 2), (3, 3)]
    cut = match.cut(padded)
    assert cut[0].shape[1] == x[0].shape[1] - int((x[1][:8].sum(0) == 0).sum())  # cut after the last token used
    with torch.no_grad():
        target = match.target(cut)
        out = student(*cut)
        np.testing.assert_allclose(out.numpy(), bert.module(*padded).numpy(), atol=1e-5)  # padding changes nothing
        assert float(match.loss()) < 1e-5 and float(torch.nn.functional.cosine_similarity(out, target).min()) > 0.9999
    match.close()
    assert hooked(student) == [] and hooked(match.teacher) == [] and hooked(bert.module) == []


def test_a_pruned_encoder_learns_layer_by_layer_and_lets_go_of_its_hooks(bert, text):
    pruned = moved_away(channels(bert, 0.5, round_to=None))
    seen = []
    tuned = run_to_end(finetune(pruned, text, epochs=4, lr=3e-3, batch_size=16, teacher=bert),
                       lambda p: seen.append(p.metrics) if "loss_layers" in p.metrics else None)
    assert len(seen) == 4 and seen[-1]["loss_layers"] < seen[0]["loss_layers"] and seen[-1]["cosine"] > 0.95
    assert hooked(tuned.module) == [] and hooked(bert.module) == []
    assert bert.module.model.encoder.layer[0].attention.self.query.out_features == 32  # the teacher is untouched


def test_every_other_layer_student_distils_and_exports(bert, text):
    student = make_student(bert, {"layers": 2})
    layers = student.module.model.encoder.layer
    assert len(layers) == 2 and student.module.model.config.num_hidden_layers == 2 and "layers 4 → 2 (the teacher's 0, 2)" in student.notes[-1]
    for mine, theirs in zip(layers, (bert.module.model.encoder.layer[i] for i in (0, 2))):
        assert torch.equal(mine.output.dense.weight, theirs.output.dense.weight)
    assert len(bert.module.model.encoder.layer) == 4  # the teacher keeps its layers
    assert layer_pairs(student.module, bert.module) == [(0, 1), (1, 3)]
    student = make_student(bert, {"layers": 2})
    torch.manual_seed(0)
    with torch.no_grad():  # a random model's pooled embedding hardly changes with its layers: move it away
        for p in student.module.model.encoder.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    seen = []
    done = run_to_end(distill(bert, student, text, epochs=4, lr=1e-3, batch_size=16),
                      lambda p: seen.append(p.metrics) if "loss_layers" in p.metrics else None)
    x = text.shaped_for(done.inputs).x
    with torch.no_grad():
        ref, before, want = (m.module(*(torch.from_numpy(a) for a in x.values())) for m in (bert, student, done))
    cos = [float(torch.nn.functional.cosine_similarity(o, ref).mean()) for o in (before, want)]
    assert len(seen) == 4 and cos[1] > cos[0] and hooked(done.module) == [], cos
    want = want.numpy()
    session = ort.InferenceSession(full_onnx(to_onnx(done)).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, x)[0], want, atol=1e-4)
    slim = make_student(bert, {"layers": 2, "width": 0.5})
    assert len(slim.module.model.encoder.layer) == 2 and slim.module.model.encoder.layer[0].attention.self.num_attention_heads == 2


def test_layer_students_are_refused_where_they_cannot_be_made(bert, tmp_path):
    with pytest.raises(StudioError, match="divide"):
        make_student(bert, {"layers": 3})
    with pytest.raises(StudioError, match="fewer"):
        make_student(bert, {"layers": 4})
    with pytest.raises(StudioError, match="whole number"):
        make_student(bert, {"layers": 1.5})
    with pytest.raises(StudioError, match="Hugging Face"):
        make_student(load_model("sample:lenet-5"), {"layers": 1})
    other = load_model(str(deeper_bert(tmp_path / "other", layers=2, seed=1)))  # another encoder: other coordinates
    assert layer_pairs(other.module, bert.module) == [(0, 1), (1, 3)] and not made_from(other.module, bert.module)
    assert made_from(make_student(bert, {"layers": 2}).module, bert.module)
    assert isinstance(layer_match(copy.deepcopy(bert.module), bert.inputs, bert), LayerMatch)
    assert layer_match(copy.deepcopy(bert.module), bert.inputs, load_model("sample:lenet-5")) is None


def test_without_labels_the_student_imitates_without_dropout(bert, text):
    student = copy.deepcopy(moved_away(channels(bert, 0.5, round_to=None)).module)
    assert any(isinstance(m, torch.nn.Dropout) and m.p > 0 for m in student.modules())
    modes = []
    student.register_forward_pre_hook(lambda m, _inputs: modes.append(m.training))
    match = layer_match(student, bert.inputs, bert)
    xs = list(text.shaped_for(bert.inputs).x.values())
    run_to_end(train(student, xs, None, None, epochs=1, lr=1e-3, batch_size=16, cancel=NO_CANCEL,
                     evaluate=lambda m: {}, embedding=True, match=match))
    assert modes and not any(modes)  # eval mode on every batch: the teacher it follows has no noise either
