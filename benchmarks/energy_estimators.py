"""How much of energy per token's repeat-to-repeat spread is the window's arrival noise?

A load point's window spans a fixed number of Poisson sends, so its realized throughput
strays from the nominal rate (±20 % over 32 requests); energy per output token as
measured (window energy / tokens served in it = mean power / realized token rate)
carries that straying in full. Mean power moves much less with it. This script reads
the cells of measured runs and prints, per load point and over its repeats:

* ``e/tok``: the measured energy per output token (today's metric): mean, CV;
* ``P/nominal``: the window's mean power over the *nominal* token rate (rate x the
  workload's output tokens per request): mean, CV. Its spread is the engine's and the
  GPU's, not the arrival draw's; its mean is the power at the realized load priced at
  the nominal one, so where power rises with load it leans toward the realized rate;
* ``CV-adj``: a control variate on the realized load: ln(e/tok) regressed on ln(thr/nom)
  (below) within each load point, one slope ``b`` pooled over all points (so a 5-repeat
  point loses no degree of freedom to its own fit), and each repeat moved to the nominal
  load, ``e/tok x (thr/nom)^-b``. Since e/tok = P / (thr/nom x nominal), b = -1 + the
  elasticity of power to load: with flat power this is the ``P/nominal`` column; where
  power rises with load the adjustment also takes out what the extra load drew, so its
  mean estimates the energy per token *at the nominal load*;
* ``thr/nom``: each repeat's realized token rate in its window (the tokens its energy
  per token divides by, over the window's length) over the nominal token rate.

It changes no metric; it sizes the lead in docs/campaign.md (a variance-reduced energy
estimator, issue 18), from data anyone can reread:

    python benchmarks/energy_estimators.py RAW_DIR [RAW_DIR ...]

RAW_DIR is a measure run's ``out_dir`` (its ``cells/*/*/summary.json``) or a ``.tgz`` of
one (as the device scripts pack them).
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # runnable from a source tree without installing

# The project's sample CV (ddof 1, nan below two values), as the statistics table uses it.
from greenllm.analysis.uncertainty import coefficient_of_variation as cv  # noqa: E402


def point_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per load point of a cell summary: both estimators over its repeats."""
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for lp in summary.get("load_points") or []:
        energy = lp.get("energy") or {}
        if not all(_positive(v) for v in (energy.get("energy_per_output_token_j"),
                                          energy.get("power_mean_w"), energy.get("energy_j"),
                                          energy.get("window_s"), lp.get("rate_rps"),
                                          lp.get("throughput_rps"), lp.get("output_tok_s"))):
            continue  # a repeat without a window or without output is not an estimate
        by_name.setdefault(str(lp.get("name")), []).append(lp)
    rows = []
    out_tokens = (summary.get("workload") or {}).get("output_tokens")
    for name, reps in by_name.items():
        measured = [lp["energy"]["energy_per_output_token_j"] for lp in reps]
        # The nominal token rate: the point's rate x the workload's output tokens per
        # request (served in full: ignore_eos), else the tokens a served request carried.
        nominal_tok_s = [lp["rate_rps"] * (out_tokens if _positive(out_tokens)
                                           else lp["output_tok_s"] / lp["throughput_rps"])
                         for lp in reps]
        # The window's own token rate (the tokens its energy per token divides by), so
        # that energy per token = mean power / (x * nominal) holds exactly.
        window_tok_s = [lp["energy"]["energy_j"] / lp["energy"]["energy_per_output_token_j"]
                        / lp["energy"]["window_s"] for lp in reps]
        rows.append({"workload": summary.get("workload", {}).get("id"), "point": name,
                     "repeats": len(reps), "measured": measured,
                     "nominal": [lp["energy"]["power_mean_w"] / nom
                                 for lp, nom in zip(reps, nominal_tok_s, strict=True)],
                     "thr_over_nominal": [w / nom for w, nom
                                          in zip(window_tok_s, nominal_tok_s, strict=True)]})
    return rows


def pooled_log_slope(rows: list[Mapping[str, Any]]) -> tuple[float, float]:
    """Within-point OLS slope of ln(measured) on ln(thr/nominal), pooled over ``rows``,
    and its standard error (nan without a residual degree of freedom)."""
    pairs = []
    for r in rows:
        ys = [math.log(v) for v in r["measured"]]
        zs = [math.log(v) for v in r["thr_over_nominal"]]
        my, mz = statistics.fmean(ys), statistics.fmean(zs)
        pairs += [(y - my, z - mz) for y, z in zip(ys, zs, strict=True)]
    den = sum(z * z for _, z in pairs)
    if den <= 0:
        raise SystemExit("no spread in realized load: the control variate has no slope")
    slope = sum(y * z for y, z in pairs) / den
    dof = len(pairs) - len(rows) - 1
    rss = sum((y - slope * z) ** 2 for y, z in pairs)
    return slope, math.sqrt(rss / dof / den) if dof > 0 else float("nan")


def adjusted(row: Mapping[str, Any], slope: float) -> list[float]:
    """Each repeat's measured value moved to the nominal load along ``slope``."""
    return [v * x ** -slope for v, x in zip(row["measured"], row["thr_over_nominal"], strict=True)]


@contextlib.contextmanager
def run_folder(raw: Path) -> Iterator[Path]:
    """``raw`` itself, or a .tgz of a run (or of several) extracted to a temporary folder
    for as long as the ``with`` lasts."""
    if raw.is_file() and raw.name.endswith((".tgz", ".tar.gz")):
        with tempfile.TemporaryDirectory() as tmp, tarfile.open(raw) as tar:
            tar.extractall(tmp, filter="data")
            yield Path(tmp)
    else:
        yield raw


def summaries(raw: Path) -> list[dict[str, Any]]:
    with run_folder(raw) as folder:
        found = sorted(folder.rglob("cells/*/*/summary.json"))
        if not found:
            raise SystemExit(f"{raw}: no cells/*/*/summary.json (not a measure run's out_dir)")
        return [json.loads(p.read_text()) for p in found]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 2
    all_rows = [row for raw in argv for s in summaries(Path(raw)) for row in point_rows(s)
                if row["repeats"] >= 2]
    if not all_rows:
        raise SystemExit("no load point with two or more repeats that have a window")
    slope, se = pooled_log_slope(all_rows)
    print(f"control variate: pooled slope of ln(e/tok) on ln(thr/nom) b = {slope:.3f} "
          f"(SE {se:.3f}; -1 = mean power does not follow the realized load)")
    print(f"{'workload':8s} {'point':8s} {'n':>2s}  {'e/tok mean':>10s} {'CV':>6s}  "
          f"{'P/nominal':>10s} {'CV':>6s}  {'adj mean':>10s} {'CV-adj':>6s}  thr/nom")
    adj_of = [adjusted(r, slope) for r in all_rows]
    for r, adj in zip(all_rows, adj_of, strict=True):
        print(f"{r['workload']!s:8s} {r['point']:8s} {r['repeats']:2d}  "
              f"{statistics.fmean(r['measured']):10.4g} {100 * cv(r['measured']):5.1f}%  "
              f"{statistics.fmean(r['nominal']):10.4g} {100 * cv(r['nominal']):5.1f}%  "
              f"{statistics.fmean(adj):10.4g} {100 * cv(adj):5.1f}%  "
              f"{' '.join(f'{x:.2f}' for x in r['thr_over_nominal'])}")
    print(f"median CV over {len(all_rows)} load points: e/tok "
          f"{100 * statistics.median(cv(r['measured']) for r in all_rows):.1f} %, "
          f"P/nominal {100 * statistics.median(cv(r['nominal']) for r in all_rows):.1f} %, "
          f"adjusted {100 * statistics.median(cv(adj) for adj in adj_of):.1f} %")
    return 0


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
