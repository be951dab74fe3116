"""profile_explain: the "why is it not faster" sentences on a dynamic-int8 CNN and on a sparse model."""

from studio.core.compress.prune import magnitude
from studio.core.compress.quantize import quantize
from studio.core.evaluate.profile import profile
from studio.core.evaluate.profile_explain import explain
from studio.core.process.jobs import run_to_end


def test_a_dynamic_int8_cnn_is_told_about_convinteger(digits):
    model, data = digits
    quantized = run_to_end(quantize(model, data, mode="dynamic", tolerance=None), lambda _: None)
    p = profile(quantized, data, runs=5)
    assert {"ConvInteger", "DynamicQuantizeLinear"} <= set(p.by_op)
    assert any(n.name == "node_conv2d_quant" and n.op == "ConvInteger" for n in p.nodes)  # the graph's own name
    why = explain(p, quantized)
    assert any("ConvInteger" in s and "static" in s for s in why), why


def test_a_sparse_model_is_told_that_sparsity_runs_dense(digits):
    model, data = digits
    sparse = magnitude(model, 0.9)
    why = explain(profile(sparse, data, runs=5), sparse)
    assert any("90% zeros" in s and "dense" in s for s in why), why
    assert not any("zeros" in s for s in explain(profile(model, data, runs=5), model))  # the dense original: nothing to say
