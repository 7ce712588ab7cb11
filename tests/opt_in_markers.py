"""Opt-in markers: plain ``pytest`` (CI, README command 2) skips tests marked ``slow``,
``gpu`` or ``vllm``; ``-m slow`` / ``-m "gpu or vllm"`` runs them. The hook is imported
by tests/conftest.py (a module of its own so that tests/test_opt_in_markers.py can run
it in an inner pytest)."""

from __future__ import annotations

import re

import pytest

# Markers a test must be asked for by name with -m: plain `pytest` (CI, README command 2)
# skips them, and the -ra summary says why and how to run them.
OPT_IN_MARKERS = {
    "slow": "long run (minutes)",
    "gpu": "needs a real NVIDIA GPU",
    "vllm": "needs vLLM and a real GPU",
}


def named_in(markexpr: str) -> set[str]:
    """The opt-in marker names an ``-m`` expression mentions (as words)."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", markexpr))
    return words & set(OPT_IN_MARKERS)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests carrying an opt-in marker unless ``-m`` names one of their opt-in
    markers (`-m slow`, `-m "gpu or vllm"`); pytest's own -m then selects among them.
    A skip, not a deselect: the reason shows in the -ra summary."""
    asked = named_in(config.getoption("markexpr") or "")
    for item in items:
        mine = [m for m in OPT_IN_MARKERS if item.get_closest_marker(m) is not None]
        if mine and not asked & set(mine):
            what = ", ".join(OPT_IN_MARKERS[m] for m in mine)
            expr = " or ".join(mine)
            item.add_marker(pytest.mark.skip(reason=f"{what}: run with -m \"{expr}\""))


def runs_gpu_tests(markexpr: str) -> bool:
    """Whether ``-m markexpr`` runs the real-GPU tests (marked ``gpu``, or ``gpu`` and
    ``vllm``): it names one of those markers, so they are not skipped, and selects them."""
    if not {"gpu", "vllm"} & named_in(markexpr):
        return False
    try:  # pytest's own -m evaluation (a private module: if it moves, assume they run)
        from _pytest.mark.expression import Expression

        expr = Expression.compile(markexpr)
    except Exception:
        return True
    return any(expr.evaluate(lambda name, _marks=marks, **_: name in _marks)
               for marks in ({"gpu"}, {"gpu", "vllm"}))
