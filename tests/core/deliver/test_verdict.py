from studio.core.deliver.verdict import latency_lines, size_words, speed_words


def test_a_slower_or_larger_result_says_so_in_plain_words():
    assert speed_words(2.0) == "2.00× faster than its source" and speed_words(1.01, "the original") == "about as fast as the original"
    assert speed_words(0.5).startswith("SLOWER than its source (2.00× the time")
    assert size_words(26, 100) == "0.26× the source's size" and size_words(143, 100).startswith("LARGER than its source (1.43×")


def test_latency_lines_put_each_batch_beside_its_source_or_say_why_not():
    metrics = {"latency": [{"batch": 1, "latency_ms": 2.0, "runs": 20, "runtime": "onnxruntime CPUExecutionProvider", "threads": 2,
                            "inputs": "1 example of d"}, {"batch": 256, "skipped": "choose data"}],
               "source_latency": [{"latency_ms": 1.0}, {"skipped": "choose data"}]}
    (label, text), (label2, text2) = latency_lines(metrics)
    assert label == "latency, batch 1" and "2.000 ms (median of 20" in text and "source 1.000 ms: SLOWER" in text
    assert label2 == "latency, batch 256" and text2 == "not measured: choose data"
