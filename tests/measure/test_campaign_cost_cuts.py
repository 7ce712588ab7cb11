"""benchmarks/campaign_cost.py's coverage cuts (``--repeats``, ``--window-fraction``): the
second policy really measures fewer and shorter windows, on the simulator in virtual time
(the smoke preset: 10 cells, a few seconds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from campaign_cost import main  # noqa: E402


def _run(tmp_path, *args) -> dict:
    out = tmp_path / f"report{len(list(tmp_path.iterdir()))}.json"
    assert main(["--preset", "smoke", *args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_fewer_repeats_and_shorter_windows_are_what_the_second_policy_measures(tmp_path):
    three = _run(tmp_path, "--repeats", "3")
    short = _run(tmp_path, "--repeats", "3", "--window-fraction", "0.5")
    assert three["candidate"] == "repeats=3" and short["candidate"] == "repeats=3, windows x0.5"
    fixed = three["policies"]["fixed"]
    points = sum(fixed["point_stops"].values())
    assert fixed["point_stops"] == {"fixed@5": points}
    for report in (three, short):
        assert report["policies"][report["candidate"]]["point_stops"] == {"fixed@3": points}
    # the same repeats, half-length load-point windows: clearly less time inside windows
    in_windows = {r["candidate"]: r["policies"][r["candidate"]]["gpu_h_in_windows"]
                  for r in (three, short)}
    assert in_windows["repeats=3, windows x0.5"] < 0.75 * in_windows["repeats=3"]
    assert short["ratio"] < three["ratio"] < 1
    # each policy's own verdicts, and the changed ones are where they differ
    for report in (three, short):
        mine, base = report["policies"][report["candidate"]]["verdicts"], fixed["verdicts"]
        assert report["policies"]["fixed"]["verdicts"] == base
        assert report["changed_verdicts"] == [c for c in base if base[c] != mine[c]]


@pytest.mark.parametrize("args", [["--repeats", "0"], ["--window-fraction", "1.5"],
                                  ["--window-fraction", "0"]])
def test_a_cut_that_is_no_policy_is_refused(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--preset", "smoke", *args])
    assert exc.value.code == 2 and "must be" in capsys.readouterr().err
