import pytest

from greenllm.errors import ConfigError
from greenllm.load.workloads import PAPER_WORKLOADS, Workload, parse_workload, workload_from


def test_paper_workloads_are_the_nine_buckets_in_order():
    assert [w.id for w in PAPER_WORKLOADS] == [
        "S-S", "S-M", "S-L", "M-S", "M-M", "M-L", "L-S", "L-M", "L-L"]
    assert {w.input_tokens for w in PAPER_WORKLOADS} == {100, 500, 1024}
    assert {w.output_tokens for w in PAPER_WORKLOADS} == {50, 128, 256}
    assert parse_workload("M-L") == Workload("M-L", 500, 256)
    assert parse_workload("l-s") == Workload("L-S", 1024, 50)


def test_unknown_id_is_a_one_line_error_listing_valid_ids():
    with pytest.raises(ConfigError) as err:
        parse_workload("X-L")
    message = str(err.value)
    assert "\n" not in message and "X-L" in message
    assert all(w.id in message for w in PAPER_WORKLOADS)


def test_workload_from_id_mapping_and_custom():
    assert workload_from("S-M") is parse_workload("S-M")
    custom = workload_from({"id": "chat", "input_tokens": 300, "output_tokens": 40})
    assert custom == Workload("chat", 300, 40)
    assert workload_from({"id": "M-M", "input_tokens": 500, "output_tokens": 128}) == \
        parse_workload("M-M")
    with pytest.raises(ConfigError, match="paper workload"):
        workload_from({"id": "M-M", "input_tokens": 10, "output_tokens": 128})
    with pytest.raises(ConfigError, match="lacks output_tokens"):
        workload_from({"id": "x", "input_tokens": 10})
    with pytest.raises(ConfigError, match="positive integer"):
        workload_from({"id": "x", "input_tokens": 0, "output_tokens": 5})
    with pytest.raises(ConfigError):
        workload_from(42)


def test_workload_is_frozen():
    with pytest.raises(AttributeError):
        parse_workload("S-S").input_tokens = 3
