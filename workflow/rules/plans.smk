# Operating plans over production traces (docs/planner.md): `greenllm recommend` on a
# table of cells, the three clock policies replayed on the simulated GPU with pinning,
# and one markdown per trace.
#
#   snakemake --workflow-profile profiles/sim reports/plans/azure-conv.md
#
# Not part of `all`. The cells come from PLANS_TABLES: today a SIMULATED grid built in
# virtual time (greenllm.recommend.sim_grid); point it at a measured or `engine=virtual`
# table (e.g. PLAN.all_cells_table()) and nothing else changes.

include: "plans_helpers.smk"


wildcard_constraints:
    trace="|".join(PLAN_TRACES),
    plan_tp=r"\d+",
    plan_b=r"\d+",


rule plans_grid:
    output:
        f"{PLANS_DIR}/grid/tp{{plan_tp}}_b{{plan_b}}.parquet",
    log:
        f"{LOGS}/plans/grid_tp{{plan_tp}}_b{{plan_b}}.log",
    params:
        p=PLANS,
        py=PYTHON,
        clocks=",".join(str(c) for c in PLANS["clocks"]),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.py} -m greenllm.recommend.sim_grid --out {output:q} --model {params.p[model]}"
        " --tps {wildcards.plan_tp} --max-batches {wildcards.plan_b}"
        " --clocks {params.clocks}"
        " --workloads {params.p[workloads]} --repeats {params.p[repeats]} > {log:q} 2>&1"


rule plans_replay_prediction:
    input:
        PLANS_TABLES,
    output:
        md=f"{PLANS_DIR}/{{trace}}/replay-plan.md",
        schedule=f"{PLANS_DIR}/{{trace}}/replay-plan.schedule_clock.csv",
        prediction=f"{PLANS_DIR}/{{trace}}/replay-plan.prediction.json",
    log:
        f"{LOGS}/plans/{{trace}}_replay_plan.log",
    params:
        greenllm=GREENLLM,
        args=lambda w: _recommend_args(w.trace, replay=True),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} recommend --table {input:q} --out {output.md:q} {params.args}"
        " --title 'Plan of the replayed load' > {log:q} 2>&1"


rule plans_replay:
    input:
        schedule=rules.plans_replay_prediction.output.schedule,
    output:
        f"{PLANS_DIR}/{{trace}}/replay.json",
    log:
        f"{LOGS}/plans/{{trace}}_replay.log",
    params:
        greenllm=GREENLLM,
        py=PYTHON,
        # one folder per replay setting: measure resumes finished cells, so a changed
        # setting must not find (and reuse) the cells of another
        raw=lambda w: (f"{PLANS_DIR}/{w.trace}/replay-raw-x{PLANS['replay']['time_scale']}"
                       f"-r{_rate_scale(w.trace, replay=True):.6g}"),
        common=lambda w: (
            f"model={PLANS['model']} engine=sim instance=tp{PLANS['replay']['tp']}"
            f" instance.max_batch={PLANS['replay']['max_batch']} workload=trace"
            f" workload.trace.path={PLAN_TRACES[w.trace]} workload.trace.name={w.trace}"
            f" workload.trace.start_s=0 workload.trace.duration_s=null"
            f" workload.trace.time_scale={PLANS['replay']['time_scale']}"
            f" workload.trace.rate_scale={_rate_scale(w.trace, replay=True):.6g}"
            f" workload.trace.policy.period_s={PLANS['replay']['period_s']}"
            " load=smoke load.warmup_requests=2 slo.baseline_requests=3"
        ),
        clocks=",".join(str(c) for c in PLANS["clocks"]),
        top=max(PLANS["clocks"]),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "({params.greenllm} measure out_dir={params.raw} {params.common}"
        " 'clocks.mhz=[{params.top}]' workload.trace.policy.kind=fixed"
        " && {params.greenllm} measure out_dir={params.raw} {params.common}"
        " 'clocks.mhz=[{params.clocks}]' workload.trace.policy.kind=schedule"
        " workload.trace.policy.schedule_path={input.schedule}"
        " && {params.greenllm} measure out_dir={params.raw} {params.common}"
        " 'clocks.mhz=[{params.clocks}]' workload.trace.policy.kind=feedback"
        " && {params.py} -m greenllm.recommend.replay_report --cells {params.raw}/cells"
        " --out {output:q}) > {log:q} 2>&1"


rule plans_report:
    input:
        tables=PLANS_TABLES,
        replay=rules.plans_replay.output,
        prediction=rules.plans_replay_prediction.output.prediction,
    output:
        f"{REPORTS}/plans/{{trace}}.md",
    log:
        f"{LOGS}/plans/{{trace}}_report.log",
    params:
        greenllm=GREENLLM,
        args=lambda w: _recommend_args(w.trace),
        title=lambda w: f"Operating plan for the {w.trace} trace",
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} recommend --table {input.tables:q} --out {output:q} {params.args}"
        " --replay-results {input.replay:q} --replay-prediction {input.prediction:q}"
        " --title {params.title:q} > {log:q} 2>&1"


rule plans:
    input:
        [f"{REPORTS}/plans/{t}.md" for t in PLAN_TRACES],
