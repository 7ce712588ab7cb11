"""greenllm doctor / clocks, run in-process through the CLI's own parser."""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys

import pytest
from gpu_fake_pynvml import make_fake_pynvml

from greenllm.cli import clocks, doctor
from greenllm.gpu import SimGpu


def parse(module, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="greenllm")
    module.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def run(module, argv: list[str]) -> tuple[int, str]:
    args = parse(module, argv)
    out = io.StringIO()
    return args.func(args, out=out), out.getvalue()


def test_doctor_without_gpu_says_so_and_exits_1(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([], init_error=12))  # no driver
    code, text = run(doctor, ["doctor", "--marker-dir", str(tmp_path)])
    assert code == 1
    assert "no NVIDIA driver/GPU found" in text and "vLLM:" in text
    assert "no measurement can run" in text


def test_doctor_sim_reports_clocks_permission_and_readings(tmp_path):
    code, text = run(doctor, ["doctor", "--sim", "--sim-count", "2", "--marker-dir", str(tmp_path)])
    assert code == 0
    assert text.count("110 supported, 345-1980 MHz in 15 MHz steps") == 2
    assert "clock locking: permitted" in text
    assert "SM 345 MHz" in text and "W instant" in text
    assert "ready to measure, pin and observe modes" in text


def test_clocks_show_and_reset_all_on_sim(tmp_path):
    gpu = SimGpu.create(tmp_path / "state", 2)
    gpu.lock_sm_clock(1, 1005)
    sim_args = ["--backend", "sim", "--sim-state", str(tmp_path / "state"), "--marker-dir", str(tmp_path / "m")]
    code, text = run(clocks, ["clocks", "show", *sim_args])
    assert code == 0 and "GPU 0" in text and "GPU 1" in text and "no clock markers" in text
    code, text = run(clocks, ["clocks", "reset", *sim_args])
    assert code == 0 and "no stale clock markers" in text
    assert gpu.locked_sm_clock_mhz(1) == 1005  # without --all only markers are acted on
    code, text = run(clocks, ["clocks", "reset", "--all", "--gpus", "1", *sim_args])
    assert code == 0 and "GPU 1" in text and "reset" in text
    assert gpu.locked_sm_clock_mhz(1) is None


def test_clocks_reset_reports_failure_for_unreachable_gpus(tmp_path, monkeypatch):
    # A stale marker from a real-GPU run, read on a machine whose NVML is gone.
    monkeypatch.setitem(sys.modules, "pynvml", make_fake_pynvml([], init_error=12))
    markers = tmp_path / "m"
    markers.mkdir()
    marker = {"version": 1, "pid": 999999999, "pid_start_ticks": None, "hostname": socket.gethostname(),
              "time_wall": 0, "mhz": 1410, "reopen_args": {"backend": "nvml"},
              "gpus": [{"index": 0, "uuid": "GPU-x"}]}
    (markers / "clock-pin-1-abc.json").write_text(json.dumps(marker))
    code, text = run(clocks, ["clocks", "reset", "--marker-dir", str(markers)])
    assert code == 1 and "could not restore" in text
    assert (markers / "clock-pin-1-abc.json").exists()  # kept for a later retry


@pytest.mark.parametrize("argv", [["doctor", "--help"], ["clocks", "reset", "--help"]])
def test_help_works(argv, capsys):
    with pytest.raises(SystemExit) as done:
        parse(doctor if argv[0] == "doctor" else clocks, argv)
    assert done.value.code == 0 and "usage" in capsys.readouterr().out
