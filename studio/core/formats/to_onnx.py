"""PyTorch → ONNX with torch.onnx (the dynamo exporter first, the TorchScript one as fallback), checked
with onnx's checker and shape inference."""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import torch

from studio.core.errors import StudioError, first_line
from studio.core.formats.examples import example_inputs
from studio.core.formats.load_onnx import all_graphs
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.formats.onnx_to_torch import back_to_onnx
from studio.core.process.locks import MODULE_LOCK

DEFAULT_OPSET = 17
NATIVE_OPSET = 18  # the dynamo exporter's own


def to_onnx(model: Model, opset: int = DEFAULT_OPSET, example: dict | None = None) -> Model:
    """The model as an in-memory ONNX Model (itself when already ONNX) with a dynamic batch axis, and the
    other axes its TensorSpecs name ("sequence") dynamic too, traced on `example` (input name → examples of
    the data) where given. Inputs that are one number (`sr: int`) become constants of the graph."""
    if model.onnx is not None:
        return model
    if model.origin is not None:  # converted from ONNX: its trained weights go back into that graph
        return back_to_onnx(model)
    if model.module is None:
        raise StudioError("weights only: there is no architecture to export", model.source)
    args = example_inputs(model, example)
    in_names = [s.name for s, a in zip(model.inputs, args) if isinstance(a, torch.Tensor)]
    out_names = [s.name for s in model.outputs] or ["output"]
    shapes = {s.name: s.shape for s in model.inputs + model.outputs}
    axes = {n: {0: "batch", **_named_axes(shapes.get(n))} for n in in_names + out_names}
    # The dynamo exporter writes opset 18 and converts down; where that conversion fails, the
    # TorchScript exporter is tried, then opset 18 as written (said in the notes).
    tries = [(True, opset), (False, opset)] + ([(True, NATIVE_OPSET)] if opset < NATIVE_OPSET else [])
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        for dynamo, version in tries:
            try:
                _export(model, args, path, version, in_names, out_names, axes, dynamo)
                proto = onnx.load(path)
                _strip_debug_info(proto)
                _typed_io(proto, args, in_names, model)
                _numbers_as_constants(proto, args, in_names)
                check(proto)
                if not dynamo:  # torch.export keeps sizes symbolic and refuses what would fix them
                    _runs_at_another_batch(proto, args, in_names)
                break
            except Exception as e:  # exporters raise many types; the next one may succeed
                errors.append(f"{'dynamo' if dynamo else 'TorchScript'} exporter: {first_line(e, 120)}")
        else:
            raise StudioError("ONNX export failed (" + "; ".join(errors[:2]) + ")", model.source)
    notes = list(model.notes) + ([f"exported after a fallback: {errors[0]}"] if errors else [])
    if version != opset:
        notes.append(f"written at opset {version}: neither exporter could write opset {opset} ({errors[1]})")
    inputs = [TensorSpec(s.name, ("batch", *s.shape[1:]) if s.shape else None, s.dtype) for s in model.inputs if s.name in in_names]
    return replace(model, format=Format.ONNX, onnx=proto, module=None, program=None, inputs=inputs, notes=notes)


def _python_not(g, value):
    """Python's `not` on a number in a TorchScript script (`not bool(len(context))` in Silero VAD): the
    TorchScript exporter's own symbolic refuses a non-boolean value; its truth is a cast to bool."""
    return g.op("Not", g.op("Cast", value, to_i=onnx.TensorProto.BOOL))


torch.onnx.register_custom_op_symbolic("aten::__not_", _python_not, 9)


def _named_axes(shape) -> dict[int, str]:
    """Beyond the batch, the axes a TensorSpec names (a token sequence's "sequence") stay dynamic too."""
    return {k: d for k, d in enumerate(shape or ()) if k and isinstance(d, str) and d.isidentifier()}


def _export(model, args, path, opset, in_names, out_names, axes, dynamo: bool) -> None:
    module = model.program if (dynamo and model.program is not None) else model.module
    if isinstance(module, torch.jit.ScriptModule) and hasattr(module, "reset_states"):
        # a script that keeps state between calls (Silero VAD) is exported as a fresh stream: the
        # TorchScript exporter writes its state as it is, and whatever ran before would be baked in
        module = copy.deepcopy(module)
        module.reset_states()
    if dynamo and isinstance(module, torch.jit.ScriptModule):
        module = _from_torchscript(module, args)
    kwargs = dict(opset_version=opset, input_names=in_names, output_names=out_names, dynamic_axes=axes, dynamo=dynamo)
    if dynamo:
        kwargs.update(external_data=False, verbose=False)
    with warnings.catch_warnings(), quiet("torch", "onnxscript"), _native_stdout_silenced(), MODULE_LOCK:
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu() if hasattr(module, "cpu") else module, args, str(path), **kwargs)


def _from_torchscript(module: torch.jit.ScriptModule, args: tuple) -> torch.nn.Module:
    """The dynamo exporter refuses a ScriptModule; torch's TorchScript → FX converter (the one its
    error names) turns it into a module it can trace. Needed where the TorchScript exporter lacks an
    operator (aten::view_as_complex in a CQT front end); it cannot convert state set inside an `if`."""
    from torch._export.converter import TS2EPConverter

    with MODULE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "state_dict entry … never used": the converter's own notes
        return TS2EPConverter(module, args).convert().module()


@contextlib.contextmanager
def _native_stdout_silenced():
    """The TorchScript exporter logs the whole graph from C++ when it fails ("Torch IR graph at
    exception", hundreds of lines: it turns its log on whatever it was set to), past Python's stdout."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@contextlib.contextmanager
def quiet(*names: str):
    """Silence stdout and the named loggers ("" is the root logger): exporters and ORT's quantizers
    print progress, hints and even tracebacks meant for script users; the studio reports their
    failures itself, in one line."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _typed_io(proto: onnx.ModelProto, args: tuple, in_names: list[str], model: Model) -> None:
    """A scripted (not traced) module's graph inputs and outputs come out of the TorchScript exporter
    without types: each input gets its example's dtype and rank (a number: a scalar), each output its
    TensorSpec's or, where the model declares none, that of its output on the example; an If branch's
    outputs are left untyped (ONNX allows it), not typed without a shape, and untyped intermediate
    values are dropped for shape inference to fill."""
    tensors = dict(zip(in_names, [a for a in args if isinstance(a, torch.Tensor)]))
    numbers = iter(a for a in args if not isinstance(a, torch.Tensor))
    for value in proto.graph.input:
        if not value.type.tensor_type.elem_type:
            example = tensors.get(value.name)
            array = example.detach().cpu().numpy() if example is not None else np.array(next(numbers, 0.0))
            _set_type(value, array.dtype, array.ndim)
    untyped = [k for k, v in enumerate(proto.graph.output) if not v.type.tensor_type.HasField("shape")]
    specs = {k: (np.dtype(s.dtype), len(s.shape)) for k, s in enumerate(model.outputs) if s.dtype and s.shape is not None}
    if any(k not in specs for k in untyped):
        with torch.no_grad(), MODULE_LOCK:
            outs = copy.deepcopy(model.module)(*args)  # a copy: a script may keep state between calls
        outs = [o for o in (outs if isinstance(outs, (tuple, list)) else [outs]) if isinstance(o, torch.Tensor)]
        specs.update({k: (o.detach().cpu().numpy().dtype, o.dim()) for k, o in enumerate(outs) if k not in specs})
    for k in untyped:
        if k in specs:
            _set_type(proto.graph.output[k], *specs[k])
    for k, graph in enumerate(all_graphs(proto.graph)):
        for value in graph.output if k else ():
            if not _typed(value):
                value.ClearField("type")
        known = [v for v in graph.value_info if _typed(v)]
        if len(known) < len(graph.value_info):  # an entry without a type says nothing: shape inference fills it
            del graph.value_info[:]
            graph.value_info.extend(known)


def _typed(value: onnx.ValueInfoProto) -> bool:
    """Whether a value's type says something: a tensor with its element type and shape, or another kind
    (an optional, a sequence)."""
    kind = value.type.WhichOneof("value")
    return kind not in (None, "tensor_type") or bool(value.type.tensor_type.elem_type and value.type.tensor_type.HasField("shape"))


def _set_type(value: onnx.ValueInfoProto, dtype: np.dtype, rank: int) -> None:
    t = value.type.tensor_type
    t.elem_type = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    t.shape.Clear()
    for k in range(rank):
        t.shape.dim.add().dim_param = "batch" if k == 0 else f"{value.name}_{k}"


def _numbers_as_constants(proto: onnx.ModelProto, args: tuple, in_names: list[str]) -> None:
    """An input that is one number (`sr: int`) was traced at its example's value; the TorchScript
    exporter still leaves it a graph input (named like onnx::Cast_1) that nothing would feed: it
    becomes an initializer holding that value."""
    numbers = [a for a in args if not isinstance(a, torch.Tensor)]
    extra = [i for i in proto.graph.input if i.name not in in_names]
    if not numbers or len(extra) != len(numbers):
        return
    for graph_input, value in zip(extra, numbers):
        dtype = onnx.helper.tensor_dtype_to_np_dtype(graph_input.type.tensor_type.elem_type)
        proto.graph.initializer.append(onnx.numpy_helper.from_array(np.array(value, dtype=dtype), graph_input.name))
        proto.graph.input.remove(graph_input)


def _runs_at_another_batch(proto: onnx.ModelProto, args: tuple, in_names: list[str]) -> None:
    """A traced export can write the example's batch into the graph (a reshape to sizes read while
    tracing), and the file then fails at any other batch: it is run once at twice the example's."""
    tensors = dict(zip(in_names, [a for a in args if isinstance(a, torch.Tensor)]))
    if not tensors or any(t.dim() == 0 for t in tensors.values()):
        return
    feed = {name: np.concatenate([t.detach().cpu().numpy()] * 2) for name, t in tensors.items()}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = 1, 4  # its failure is told in one line, not logged
    try:
        ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(None, feed)
    except Exception as e:  # ONNX Runtime raises its own Fail, InvalidArgument, …
        batch = len(next(iter(tensors.values())))
        raise StudioError(f"the traced export fixes the batch to {batch}: it fails at {2 * batch} ({first_line(e, 100)})") from None


def _strip_debug_info(proto: onnx.ModelProto) -> None:
    """The dynamo exporter stores each node's Python stack trace and FX node: often a tenth of a small
    model's file, and paths from the machine that exported it. A deployable file carries neither."""
    for node in proto.graph.node:
        node.ClearField("metadata_props")
        node.ClearField("doc_string")


def check(proto: onnx.ModelProto, source: str = "") -> None:
    try:
        onnx.checker.check_model(proto)
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as e:  # checker and inference raise ValidationError, InferenceError, …
        raise StudioError(f"the ONNX model fails validation ({first_line(e)})", source) from None
