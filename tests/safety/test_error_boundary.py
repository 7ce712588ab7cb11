"""The CLI's one error boundary (cli/errors.py): one line, a documented exit code, and
the traceback only on request."""

from __future__ import annotations

import errno
import os
import shutil
import signal
from pathlib import Path

import pytest

from greenllm import atomic
from greenllm.cli.errors import EXIT_INPUT, EXIT_OS, run_guarded
from greenllm.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.strip()]


@pytest.fixture
def broken_group(tmp_path, monkeypatch):
    cfg = tmp_path / "cfg"
    shutil.copytree(ROOT / "config/measure", cfg)
    (cfg / "engine/broken.yaml").write_text("kind: sim\n  bad: [1,\n")
    monkeypatch.setenv("GREENLLM_CONFIG_DIR", str(cfg))
    return cfg / "engine/broken.yaml"


def test_group_yaml_that_does_not_parse_is_one_line_naming_the_file(broken_group, tmp_path, capsys):
    code = main(["measure", f"out_dir={tmp_path / 'raw'}", "engine=broken"])
    lines = error_lines(capsys.readouterr().err)
    assert code == EXIT_INPUT
    assert len(lines) == 1 and str(broken_group) in lines[0] and "line 2" in lines[0], lines
    assert not (tmp_path / "raw").exists()


def test_debug_flag_and_env_show_the_traceback(broken_group, tmp_path, monkeypatch):
    import yaml

    with pytest.raises(yaml.YAMLError):
        main(["measure", "--debug", f"out_dir={tmp_path / 'raw'}", "engine=broken"])
    monkeypatch.setenv("GREENLLM_DEBUG", "1")
    with pytest.raises(yaml.YAMLError):
        main(["measure", f"out_dir={tmp_path / 'raw'}", "engine=broken"])


def test_disk_full_during_an_atomic_write_names_the_file(tmp_path, monkeypatch, capsys):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "fsync", full)
    dest = tmp_path / "cells" / "summary.json"
    code = run_guarded(lambda: atomic.write_json(dest, {"a": 1}), debug=False)
    lines = error_lines(capsys.readouterr().err)
    assert code == EXIT_OS
    assert len(lines) == 1 and "no space left on device" in lines[0] and str(dest) in lines[0]
    assert not dest.exists() and not list(dest.parent.iterdir())  # no temp file left


@pytest.mark.parametrize("err, words", [
    (errno.EROFS, "read-only file system"),
    (errno.EACCES, "permission denied"),
])
def test_os_errors_are_one_line(err, words, capsys):
    def fail():
        raise OSError(err, os.strerror(err), "/data/out/instance.json")

    assert run_guarded(fail, debug=False) == EXIT_OS
    lines = error_lines(capsys.readouterr().err)
    assert len(lines) == 1 and words in lines[0] and "/data/out/instance.json" in lines[0]


def test_a_bug_keeps_its_traceback():
    with pytest.raises(ZeroDivisionError):
        run_guarded(lambda: 1 // 0, debug=False)


def test_sigterm_outside_measure_names_the_signal(capsys, monkeypatch):
    import greenllm.cli.main as cli

    def killed(argv) -> int:  # any command that gets a SIGTERM while it works
        os.kill(os.getpid(), signal.SIGTERM)
        return 0

    monkeypatch.setattr(cli, "_dispatch", killed)
    code = main(["doctor"])
    err = capsys.readouterr().err
    assert code == 128 + signal.SIGTERM
    assert "stopped by SIGTERM" in err and ("clocks restored" in err or "no clock was pinned" in err)
    assert signal.getsignal(signal.SIGTERM) is not cli._terminate  # handler put back


def test_a_subcommand_imports_only_its_own_module():
    """`greenllm doctor` on a GPU box without the analysis stack (seen on the lent H200:
    jsonschema missing made doctor fail while building every subcommand's parser)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['jsonschema'] = None; "
            "from greenllm.cli.main import build_parser; "
            "build_parser(only='doctor').parse_args(['doctor'])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    code_all = code.replace("only='doctor'", "")
    assert subprocess.run([sys.executable, "-c", code_all], capture_output=True,
                          timeout=60).returncode != 0  # the whole CLI does need it
