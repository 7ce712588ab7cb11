"""Stand-in for the `greenllm` commands other parts of the project provide, so the DAG can
be run end to end while they are being written (used as `greenllm_cmd` by
test_workflow_run.py). `download` is the real command. The others only write files of
the right names and record how they were called:

* measure: parses the Hydra overrides the workflow passes, writes one summary.json per
  cell + manifest.json under out_dir. STUB_FAIL_CELL=<clock>/<workload> records that
  cell as failed; STUB_CRASH=<instance_id> exits 1 after writing the first cell of
  that instance (an engine crash).
* aggregate / figure / claims: write their --out files (not real tables or plots).
Every call is appended to $STUB_CALLS (one JSON line).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def hydra_list(text: str) -> list[str]:
    assert text.startswith("[") and text.endswith("]"), text
    return [v for v in text[1:-1].split(",") if v]


def measure(args: list[str]) -> int:
    o = dict(a.split("=", 1) for a in args)
    out = Path(o["out_dir"])
    iid = out.name
    clocks = ([f"f{m}" for m in hydra_list(o["clocks.mhz"])] if o["clocks"] == "pin"
              else ["native"])
    cells = []
    for clock in clocks:
        for wl in hydra_list(o["workload.ids"]):
            status = "failed" if os.environ.get("STUB_FAIL_CELL") == f"{clock}/{wl}" else "ok"
            summary = out / "cells" / clock / wl / "summary.json"
            summary.parent.mkdir(parents=True, exist_ok=True)
            summary.write_text(json.dumps({
                "schema": "greenllm.cell/1", "status": status,
                "error": "stub failure" if status == "failed" else None,
                "instance": {"id": iid, "tp": int(o["instance.tp"]),
                             "max_batch": int(o["instance.max_batch"])},
                "clock": {"label": clock}, "workload": {"id": wl},
                "load_points": [{"name": n} for n in hydra_list(o["load.points"])],
            }))
            cells.append({"clock": clock, "workload": wl, "status": status,
                          "summary": str(summary)})
            if os.environ.get("STUB_CRASH") == iid:
                print("stub: engine died", file=sys.stderr)
                return 1
    (out / "manifest.json").write_text(json.dumps(
        {"instance_id": iid, "cells": cells, "complete": True}))
    return 0


def opt(args: list[str], name: str) -> list[str]:
    i = args.index(name) + 1
    values = []
    while i < len(args) and not args[i].startswith("--"):
        values.append(args[i])
        i += 1
    return values


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    with open(os.environ["STUB_CALLS"], "a") as fh:
        fh.write(json.dumps({"command": command, "args": args}) + "\n")
    if command == "download":
        from greenllm.cli.main import main as real_main

        return real_main(argv)
    if command == "measure":
        return measure(args)
    out = Path(opt(args, "--out")[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    if command == "aggregate":
        cells = opt(args, "--cells")
        assert all(Path(c).is_file() for c in cells)
        out.write_text(json.dumps(cells))
    elif command == "figure":
        json.loads(opt(args, "--study")[0])
        out.write_text("%PDF-stub\n")
        out.with_suffix(".png").write_bytes(b"\x89PNG\r\n\x1a\n")
    elif command == "claims":
        json.loads(opt(args, "--studies")[0])
        out.write_text("# claims (stub)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
