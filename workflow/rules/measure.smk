# Measuring: ONE job per engine instance (model, TP, max batch), then one cheap job per
# cell that only copies what the measure job wrote.
#
# Why this shape:
# * An engine start costs minutes (95-155 s for a 1B model on one H100, more for 70B at
#   TP8) and clocks can be changed under a running server, so `greenllm measure` starts
#   the engine once and runs every cell (clock x workload) of the instance, resumably:
#   a rerun skips cells whose summary says ok and measures the missing or failed ones
#   (and, afresh, those measured under other settings: measure.measured_settings).
# * Its declared output is only a marker, results/runs/<instance>.done (a copy of the
#   run's manifest.json). The measurements themselves (results/raw/<instance>/) are not
#   declared anywhere, because Snakemake deletes the declared outputs of a failed job;
#   raw data must survive an engine crash at cell 60 of 63.
# * A cell that fails is recorded as failed in its summary.json (the command exits 0
#   while the engine ran), so one bad cell never fails the job or loses the others.
# * Each cell still is its own Snakemake output, results/cells/<instance>/<clock>/<wl>.json,
#   copied from the raw summary by the local `cell` rule: figures depend on exactly the
#   cells (and hence instances) they need, and a cell output can always be rebuilt from
#   raw data without measuring again.
#
# Why not a service() rule for the server plus one job per cell in a group: with
# Snakemake 9.27.1 that does run one server for all cells, but when any job of the group
# fails Snakemake marks the whole group failed and deletes the outputs of every job in
# it, finished cells included (also with --keep-going): hours of measurements lost to
# one failing cell.
#
# Rerun failed cells: snakemake --forcerun measure (or the marker of one instance).
#
# Only what is needed (greenllm.workflow_cells): a measure job measures the cells of its
# instance that this run's targets read (one figure: its study's cells, still one engine
# start); it reruns when that set grows beyond what is measured (a new clock, a bigger
# target), and a cell measured ok reads the marker as ancient, so a rerun redoes only
# the new cells and what depends on them.
#
# resources: gpus = TP is what the local scheduler counts against `--resources gpus=N`
# (a request above N is capped to N, so gpus=1 admits one GPU job at a time whatever its
# TP) and what the Slurm job-step plugin passes to `srun --gpus`; gpu = TP is what the
# Slurm executor plugin turns into `sbatch --gpus=TP`; runtime (minutes) is the plan's
# upper-bound estimate + 25 %.


rule measure:
    input:
        model=PLAN.model_marker(),
    output:
        f"{RESULTS}/runs/{{instance}}.done",
    log:
        f"{LOGS}/measure/{{instance}}.log",
    params:
        greenllm=GREENLLM,
        cells=measure_trigger,
        overrides=measure_args,
        manifest=lambda wc: f"{PLAN.raw_dir(wc.instance)}/manifest.json",
    resources:
        gpus=lambda wc: PLAN.instance(wc.instance).gpus,
        gpu=lambda wc: PLAN.instance(wc.instance).gpus,
        runtime=measure_runtime_min,
    conda:
        MEASURE_ENV
    shell:
        "{params.greenllm} measure {params.overrides} > {log:q} 2>&1"
        " && cp {params.manifest:q} {output:q}"


# Copying one summary takes milliseconds: never worth a cluster job. A shell command,
# not a run: block (Snakemake spawns each run: job as a new Snakemake process that parses
# the whole workflow again: seconds per cell, minutes for the paper grid's 105).
localrules:
    cell,


rule cell:
    input:
        cell_marker,
    output:
        f"{RESULTS}/cells/{{instance}}/{{clock}}/{{workload}}.json",
    log:
        f"{LOGS}/cells/{{instance}}/{{clock}}/{{workload}}.log",
    params:
        python=PYTHON,
        summary=lambda wc: PLAN.raw_summary(gplan.Cell(wc.instance, wc.clock, wc.workload)),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.python} -m greenllm.cell_copy {params.summary:q} {output:q} {log:q}"
