# greenllm: regenerate every figure of "Towards Greener LLMs" from its own measurements.
#
#   snakemake --cores 1                                   # paper preset, default profile
#   snakemake --workflow-profile profiles/sim             # smoke preset, simulated GPU
#   snakemake reports/figures/fig03_max_throughput_vs_clock_workloads.pdf   # one figure
#   greenllm plan --preset paper                          # what it will run and cost
#
# The stages live in workflow/rules/; helpers (built on greenllm.plan) in common.smk.
# Details: docs/workflow.md.

configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"
include: "workflow/rules/measure.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/plans.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        all_figures(),
        PLAN.claims_file(),
    default_target: True


# End every run with where its outputs went (src/greenllm/workflow_summary.py).
onsuccess:
    print_run_summary(ok=True)


onerror:
    print_run_summary(ok=False)
