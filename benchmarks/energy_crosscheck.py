"""Energy counter vs instant-power integral, per load point, from saved telemetry.

    python benchmarks/energy_crosscheck.py DIR [DIR ...] [--json out.json]
        [--write-windows energy-windows.json]

Each DIR is an instance folder of ``greenllm measure`` (``cells/<clock>/<workload>/`` with
``summary.json`` and ``telemetry.rN.parquet``), or a folder holding several. For every
load point (and repeat) it recomputes the window's energy both ways
(``greenllm.gpu.telemetry.window_energy``) and prints:

* the disagreement (integral - counter) / counter and the integral's own expected
  sampling noise (``integral_noise``), and their ratio z;
* over all points: median / p90 / max |disagreement|, how many are within 1 %, the
  spread of z (about 1 if the disagreement is the integral's sampling noise) and how
  many lie within |z| <= 2;
* what reading the energy counter less often would change: each point's counter energy
  recomputed from every 2nd and every 5th reading (40 and 100 ms at the 20 ms tick).

The window of each point comes from the summary (``energy.t0_mono``/``t1_mono``), else
from the point's requests (``requests.rN.parquet``: from the send after the first
``load.ramp_fraction`` of sends to the last send, as the measure run took it), else from
``energy-windows.json`` next to the instance folders (the committed reference sets, whose
requests files are not in the repository; ``--write-windows`` writes that file from a
folder that has them). Points without any are skipped (counted).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from greenllm.atomic import write_json  # noqa: E402
from greenllm.errors import GreenllmError  # noqa: E402
from greenllm.gpu.telemetry import window_energy  # noqa: E402
from greenllm.measure.points import steady_window  # noqa: E402

WINDOWS_FILE = "energy-windows.json"


def window_key(cell_dir: Path, point: str, repeat: int) -> str:
    """``<instance>/<clock>/<workload>/<point>/r<repeat>``: the key of energy-windows.json."""
    instance = cell_dir.parent.parent.parent.name
    return f"{instance}/{cell_dir.parent.name}/{cell_dir.name}/{point}/r{repeat}"


def find_cells(dirs: list[Path]) -> list[Path]:
    cells = sorted({p.parent for d in dirs for p in d.rglob("cells/*/*/summary.json")})
    if not cells:
        raise GreenllmError(f"no cells/<clock>/<workload>/summary.json under {dirs}")
    return cells


def sidecar_windows(cell_dir: Path) -> dict[str, list[float]]:
    for parent in cell_dir.parents:
        f = parent / WINDOWS_FILE
        if f.is_file():
            return json.loads(f.read_text())
    return {}


def ramp_fraction(cell_dir: Path) -> float:
    """The measure run's ``load.ramp_fraction`` (its instance.json), default 0.1."""
    instance = cell_dir.parent.parent.parent / "instance.json"
    if not instance.is_file():
        return 0.1
    return float(json.loads(instance.read_text()).get("load", {}).get("ramp_fraction", 0.1))


def point_windows(cell_dir: Path, points: list[dict], repeat: int, ramp: float,
                  side: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """The window of each of ``points`` (one repeat's load points) that can be found."""
    requests = cell_dir / f"requests.r{repeat}.parquet"
    frame = pd.read_parquet(requests) if requests.is_file() else None
    out = {}
    for lp in points:
        e, name, key = lp["energy"], lp["name"], window_key(cell_dir, lp["name"], repeat)
        if "t0_mono" in e:
            out[name] = (float(e["t0_mono"]), float(e["t1_mono"]))
        elif frame is not None and (frame["point"] == name).any():
            out[name] = steady_window(frame[frame["point"] == name], ramp)
        elif key in side:
            out[name] = tuple(side[key])
    return out


def thinned(tel: pd.DataFrame, every: int) -> pd.DataFrame:
    """The frame as if the counter had been read on every ``every``-th tick only."""
    t = tel.copy()
    keep = (t["tick"] % every == 0) | (t["tick"] == t["tick"].max())
    t.loc[~keep, "energy_mj"] = np.nan
    return t


def analyse(cells: list[Path]) -> tuple[list[dict], int]:
    rows, skipped = [], 0
    for cell in cells:
        summary = json.loads((cell / "summary.json").read_text())
        ramp, side = ramp_fraction(cell), sidecar_windows(cell)
        for tel_path in sorted(cell.glob("telemetry.r*.parquet")):
            repeat = int(tel_path.name.split(".r")[1].split(".")[0])
            tel = pd.read_parquet(tel_path)
            points = [lp for lp in summary.get("load_points", [])
                      if int(lp.get("repeat", 0)) == repeat and lp.get("energy")]
            windows = point_windows(cell, points, repeat, ramp, side)
            skipped += len(points) - len(windows)
            for name, (t0, t1) in windows.items():
                we = window_energy(tel, t0, t1)
                row = {"cell": window_key(cell, name, repeat), "t0": t0, "t1": t1,
                       "window_s": we.window_s,
                       "energy_j": we.energy_j, "disagreement": we.disagreement,
                       "integral_noise": we.integral_noise,
                       "z": we.disagreement / we.integral_noise if we.integral_noise > 0
                       else math.nan}
                for every in (2, 5):
                    row[f"counter_change_every_{every}"] = (
                        window_energy(thinned(tel, every), t0, t1).energy_j / we.energy_j - 1)
                rows.append(row)
    return rows, skipped


def summarise(rows: list[dict]) -> dict[str, float]:
    d = np.array([r["disagreement"] for r in rows])
    z = np.array([r["z"] for r in rows])
    z = z[np.isfinite(z)]
    out = {"points": float(len(d)), "median_abs": float(np.median(np.abs(d))),
           "p90_abs": float(np.percentile(np.abs(d), 90)), "max_abs": float(np.abs(d).max()),
           "within_1pct": float(np.sum(np.abs(d) <= 0.01)), "mean": float(d.mean()),
           "median_noise": float(np.median([r["integral_noise"] for r in rows])),
           "z_spread": float(z.std(ddof=1)) if len(z) > 1 else math.nan,
           "z_within_2": float(np.sum(np.abs(z) <= 2))}
    for every in (2, 5):
        c = np.abs([r[f"counter_change_every_{every}"] for r in rows])
        out[f"counter_every_{every}_median"] = float(np.median(c))
        out[f"counter_every_{every}_max"] = float(c.max())
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("dirs", nargs="+", type=Path)
    p.add_argument("--json", help="write every point and the summary here")
    p.add_argument("--write-windows", metavar="FILE",
                   help=f"write the windows used, keyed as {WINDOWS_FILE} is")
    args = p.parse_args(argv)
    try:
        rows, skipped = analyse(find_cells(args.dirs))
        if not rows:
            raise GreenllmError(f"no load point with a window and telemetry ({skipped} skipped)")
    except (GreenllmError, OSError, ValueError, KeyError) as exc:
        print(f"energy_crosscheck: error: {exc}", file=sys.stderr)
        return 2
    for r in rows:
        print(f"{r['cell']:55s} {r['window_s']:6.1f} s  d {100 * r['disagreement']:+6.2f} %  "
              f"noise {100 * r['integral_noise']:5.2f} %  z {r['z']:+5.2f}")
    s = summarise(rows)
    print(f"{s['points']:.0f} points ({skipped} without a window skipped): |disagreement| median "
          f"{100 * s['median_abs']:.2f} %, p90 {100 * s['p90_abs']:.2f} %, max "
          f"{100 * s['max_abs']:.2f} %, within 1 %: {s['within_1pct']:.0f}, mean "
          f"{100 * s['mean']:+.2f} %")
    print(f"integral noise median {100 * s['median_noise']:.2f} %; z spread {s['z_spread']:.2f}, "
          f"|z| <= 2: {s['z_within_2']:.0f}")
    print(f"counter read every 2nd tick: energy changes median "
          f"{100 * s['counter_every_2_median']:.2f} %, max {100 * s['counter_every_2_max']:.2f} %; "
          f"every 5th: median {100 * s['counter_every_5_median']:.2f} %, max "
          f"{100 * s['counter_every_5_max']:.2f} %")
    if args.json:
        write_json(args.json, {"points": rows, "summary": s, "skipped": skipped})
    if args.write_windows:
        write_json(args.write_windows, {r["cell"]: [r["t0"], r["t1"]] for r in rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
