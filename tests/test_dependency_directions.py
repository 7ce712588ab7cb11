"""The directions of dependency ARCHITECTURE.md asks for, checked on the imports:
``sim`` (an engine) imports no analysis; ``analysis`` reads files and runs nothing;
``measure`` reaches the simulator only through the engine layer; ``calibrate`` and
``compare`` sit above all three."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "greenllm"

FORBIDDEN = {
    # (sim/virtual_load.py borrows measure.points.n_requests: left to the virtual engine's
    # rework of that seam)
    "sim": ("greenllm.analysis", "greenllm.calibrate", "greenllm.compare", "greenllm.figures"),
    # measure picks an engine kind and asks the engine layer for what the simulator knows
    # (engine.capacity, a kind's config_problems)
    "measure": ("greenllm.sim", "greenllm.calibrate", "greenllm.compare", "greenllm.figures"),
    "analysis": ("subprocess", "greenllm.load.client", "greenllm.engine", "greenllm.gpu",
                 "greenllm.search", "greenllm.measure", "greenllm.calibrate",
                 "greenllm.compare", "greenllm.sim"),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_nothing_above_it(package: str) -> None:
    bad = []
    for path in sorted((SRC / package).rglob("*.py")):
        for name in imports_of(path):
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[package]):
                bad.append(f"{path.relative_to(SRC)} imports {name}")
    assert not bad, bad


def test_the_check_sees_imports() -> None:  # the test above can fail
    assert "greenllm.analysis.compare" in imports_of(SRC / "compare" / "runner.py")
