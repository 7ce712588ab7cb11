"""A result names the code that measured it by a digest of the package's sources, which a
copied tree's stale git metadata cannot get wrong."""

from __future__ import annotations

import subprocess
import sys

from greenllm.measure.provenance import provenance, source_digest


def _digest(path):
    return source_digest.__wrapped__(path)  # uncached: the test edits files in place


def test_the_digest_follows_python_sources_only(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "a.py").write_text("x = 1\n")
    (pkg / "sub" / "b.py").write_text("y = 2\n")
    first = _digest(pkg)
    assert len(first) == 16 and first == _digest(pkg)
    (pkg / "notes.txt").write_text("not code")
    assert _digest(pkg) == first  # only .py files count
    (pkg / "sub" / "b.py").write_text("y = 3\n")
    changed = _digest(pkg)
    assert changed != first
    (pkg / "sub" / "b.py").rename(pkg / "sub" / "c.py")
    assert _digest(pkg) != changed  # a moved module is other code


def test_provenance_records_the_package_digest_and_the_module_prints_it():
    prov = provenance(config={}, config_hash="h", overrides=[], gpu_infos=[],
                      engine_version="sim")
    assert prov["source_digest"] == source_digest()
    out = subprocess.run([sys.executable, "-m", "greenllm.measure.provenance"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == prov["source_digest"]
