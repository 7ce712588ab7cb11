"""The markers do what the README says: plain `pytest` skips `slow`, `gpu` and `vllm`
tests with the reason in the -ra summary; `-m slow` and `-m "gpu or vllm"` run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

INNER = '''
import pytest

@pytest.mark.slow
def test_long(): pass

@pytest.mark.gpu
def test_on_gpu(): pass

@pytest.mark.vllm
@pytest.mark.gpu
def test_vllm_cell(): pass

def test_plain(): pass
'''


@pytest.fixture(scope="module")
def inner_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("markers")
    (d / "conftest.py").write_text(
        "from opt_in_markers import pytest_collection_modifyitems  # noqa: F401\n")
    (d / "test_inner.py").write_text(INNER)
    (d / "pytest.ini").write_text(
        "[pytest]\naddopts = -ra --strict-markers -p no:cacheprovider\n"
        "markers =\n    slow: s\n    gpu: g\n    vllm: v\n")
    return d


def run_inner(d: Path, *args: str) -> dict[str, str]:
    """{test name: PASSED/SKIPPED/...} and the summary, of an inner pytest run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-v", *args], cwd=d, env=env,
                          capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    status = {}
    for line in out.splitlines():
        if "test_inner.py::" in line and " " in line.split("::", 1)[1]:
            name, rest = line.split("::", 1)[1].split(" ", 1)
            status[name] = rest.split()[0]
    status["_out"] = out
    return status


def test_plain_pytest_skips_opt_in_markers_with_the_reason(inner_dir: Path) -> None:
    s = run_inner(inner_dir)
    assert s["test_plain"] == "PASSED", s["_out"]
    assert {s[t] for t in ("test_long", "test_on_gpu", "test_vllm_cell")} == {"SKIPPED"}
    assert 'long run (minutes): run with -m "slow"' in s["_out"]  # -ra summary line
    assert "needs a real NVIDIA GPU" in s["_out"]


def test_dash_m_slow_runs_only_slow(inner_dir: Path) -> None:
    s = run_inner(inner_dir, "-m", "slow")
    assert s["test_long"] == "PASSED", s["_out"]
    assert "test_plain" not in s and "test_on_gpu" not in s  # deselected by -m


def test_dash_m_gpu_or_vllm_runs_the_hardware_tests(inner_dir: Path) -> None:
    s = run_inner(inner_dir, "-m", "gpu or vllm")
    assert s["test_on_gpu"] == "PASSED" and s["test_vllm_cell"] == "PASSED", s["_out"]
    assert "test_long" not in s


def test_gpu_tests_run_one_at_a_time() -> None:
    """The project's addopts spread the suite over xdist workers, but a run selecting the
    real-GPU tests makes none (tests/conftest.py): two GPU tests at once would share the
    card each of them measures. A real pytest run with the project's own pyproject."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m",
                           "gpu or vllm", str(TESTS / "hardware")], cwd=TESTS.parent,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 5), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "-n auto" in proc.stdout or "xdist" in proc.stdout  # the plugin is loaded ...
    assert not any(line.startswith("created:") for line in proc.stdout.splitlines()), \
        proc.stdout[-2000:]  # ... and made no workers


@pytest.mark.parametrize("expr, alone", [
    ("gpu or vllm", True), ("gpu", True), ("vllm", True), ("gpu and not vllm", True),
    ("not gpu", False), ("slow", False), ("not slow", False), ("", False),
])
def test_only_runs_that_run_gpu_tests_give_up_the_workers(expr: str, alone: bool) -> None:
    from opt_in_markers import runs_gpu_tests

    assert runs_gpu_tests(expr) is alone
