# Figures from a committed reference dataset (reports/reference/<set>/, real measurements
# with provenance): no GPU, no measuring, only aggregate + figure. Not part of `all`.
#
#   snakemake --cores 1 reference_figures
#   snakemake --cores 1 reports/reference/h100-2026-11-25/figures/fig01_ttft_vs_clock_workloads.pdf
#
# Each set names, per study it has data for, the instance folders its cells come from and
# the study (the same JSON `greenllm figure --study` takes). Per-study tables keep every
# figure to one run: the set holds the 1.1B max-batch-64 cells twice (the part-1 run and
# the smoke DAG), and one aggregate over both would keep only one of each duplicate.
# The whole-set table (results/reference/<set>/cells.parquet) is built too, for
# inspection and claims. Wildcard names differ from the main rules' (whose constraints
# follow the configured preset).

REFERENCE_ROOT = Path(workflow.basedir) / "reports" / "reference"

REFERENCE_SETS = {
    "h100-2026-11-25": {
        # Observe mode at the card's own clock (1980 MHz): one point per curve.
        "workload": {
            "cells": ["h100_llama-1b_tp1_b64"],
            "study": {"tp": 1, "max_batch": 64, "workloads": ["S-S", "M-M", "L-L"],
                      "load": "medium", "model": "llama-1b"},
        },
        "batch": {
            "cells": ["smoke-dag_llama-1b_tp1_b16", "smoke-dag_llama-1b_tp1_b64"],
            "study": {"tp": 1, "max_batches": [16, 64], "workload": "M-M", "load": "medium",
                      "low_load": "low", "model": "llama-1b"},
        },
    },
    "h100-2026-11-25-s2": {
        # Second session, 5 repeats per load point (a different card of the same kind:
        # its cells are not mixed with the first set's).
        "workload": {
            "cells": ["h100_llama2-13b_tp1_b64"],
            "study": {"tp": 1, "max_batch": 64, "workloads": ["S-S", "M-M", "L-L"],
                      "load": "medium", "model": "llama2-13b"},
        },
        "batch": {
            "cells": ["h100_llama-1b_tp1_b4", "h100_llama-1b_tp1_b16"],
            "study": {"tp": 1, "max_batches": [4, 16], "workload": "M-M", "load": "medium",
                      "low_load": "low", "model": "llama-1b"},
        },
    },
}

wildcard_constraints:
    refset=_alternatives(REFERENCE_SETS),
    refstudy=_alternatives(sorted({s for v in REFERENCE_SETS.values() for s in v})),
    refstem=_alternatives(stem for stem, _ in gplan.FIGURES),


# Helpers are lambdas: `snakemake --lint` flags rule files that also hold functions.
# Every cell summary under the given instance folders (sorted: a stable command line).
reference_summaries = lambda folders: sorted(
    str(p) for f in folders for p in Path(f).glob("cells/*/*/summary.json")
) or _reference_error(f"no cell summaries under {', '.join(map(str, folders))}")
# (a lambda cannot `raise`: it throws into an empty generator instead)
_reference_error = lambda message: (_ for _ in ()).throw(WorkflowError(message))
reference_study_of = lambda wc: gplan.FIGURE_STUDY[wc.refstem]
reference_spec = lambda wc: REFERENCE_SETS[wc.refset].get(reference_study_of(wc)) or (
    _reference_error(f"reference set {wc.refset} has no data for the "
                     f"{reference_study_of(wc)} study (figure {wc.refstem})")
)
reference_figure_files = lambda ext="pdf": [
    f"{REPORTS}/reference/{name}/figures/{stem}.{ext}"
    for name, studies in REFERENCE_SETS.items()
    for stem, study in gplan.FIGURES
    if study in studies
]


# Seconds of pandas/matplotlib on the submit host: never worth a cluster job.
localrules:
    reference_table,
    reference_study_table,
    reference_figure,
    reference_figures,


rule reference_figures:
    input:
        reference_figure_files(),
        [f"{RESULTS}/reference/{name}/cells.parquet" for name in REFERENCE_SETS],


rule reference_table:
    input:
        cells=lambda wc: reference_summaries(
            sorted(p for p in (REFERENCE_ROOT / wc.refset).iterdir() if p.is_dir())
        ),
    output:
        f"{RESULTS}/reference/{{refset}}/cells.parquet",
    log:
        f"{LOGS}/reference/{{refset}}/cells.log",
    params:
        greenllm=GREENLLM,
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} aggregate --cells {input.cells:q} --out {output:q} > {log:q} 2>&1"


rule reference_study_table:
    input:
        cells=lambda wc: reference_summaries(
            [REFERENCE_ROOT / wc.refset / f for f in REFERENCE_SETS[wc.refset][wc.refstudy]["cells"]]
        ),
    output:
        f"{RESULTS}/reference/{{refset}}/{{refstudy}}.parquet",
    log:
        f"{LOGS}/reference/{{refset}}/{{refstudy}}.log",
    params:
        greenllm=GREENLLM,
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} aggregate --cells {input.cells:q} --out {output:q} > {log:q} 2>&1"


rule reference_figure:
    input:
        table=lambda wc: (reference_spec(wc)
                          and f"{RESULTS}/reference/{wc.refset}/{reference_study_of(wc)}.parquet"),
    output:
        pdf=f"{REPORTS}/reference/{{refset}}/figures/{{refstem}}.pdf",
        png=f"{REPORTS}/reference/{{refset}}/figures/{{refstem}}.png",
    log:
        f"{LOGS}/reference/{{refset}}/figures/{{refstem}}.log",
    params:
        greenllm=GREENLLM,
        study=lambda wc: json.dumps(reference_spec(wc)["study"], sort_keys=True),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} figure {wildcards.refstem} --table {input.table:q}"
        " --study {params.study:q} --out {output.pdf:q} > {log:q} 2>&1"
