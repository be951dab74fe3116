from studio.core.process.jobs import Progress, offset, run_to_end


def two_steps():
    yield Progress(1, 2, "half")
    yield Progress(2, 2, "all")
    return "done"


def test_offset_places_a_sub_job_within_a_larger_one():
    events = []
    assert run_to_end(offset(two_steps(), 1, 4, "b: ", span=2), events.append) == "done"
    assert [(e.step, e.total, e.message) for e in events] == [(2.0, 4, "b: half"), (3.0, 4, "b: all")]
    assert [e.fraction for e in events] == [0.5, 0.75]
