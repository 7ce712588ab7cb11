# One job per paper figure (pdf + png), from its study's table; the claims table from
# the table of every cell. Figures and claims go into `snakemake --report`.


rule figure:
    input:
        table=figure_table,
    output:
        pdf=report(
            f"{REPORTS}/figures/{{stem}}.pdf",
            caption="../report/figure.rst",
            category="Figures",
            subcategory=lambda wc: STUDY_TITLES[PLAN.figure_study(wc.stem).name],
        ),
        png=f"{REPORTS}/figures/{{stem}}.png",
    log:
        f"{LOGS}/figures/{{stem}}.log",
    params:
        greenllm=GREENLLM,
        study=figure_study_json,
        caption=lambda wc: FIGURE_CAPTIONS.get(wc.stem, wc.stem),
        setup=lambda wc: report_setup(PLAN.figure_study(wc.stem).name),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} figure {wildcards.stem} --table {input.table:q}"
        " --study {params.study:q} --out {output.pdf:q} > {log:q} 2>&1"


rule claims:
    input:
        table=PLAN.all_cells_table(),
    output:
        report(PLAN.claims_file(), caption="../report/claims.rst", category="Claims"),
    log:
        f"{LOGS}/claims.log",
    params:
        greenllm=GREENLLM,
        studies=json.dumps(PLAN.studies_dict(), sort_keys=True),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} claims --table {input.table:q} --studies {params.studies:q}"
        " --out {output:q} > {log:q} 2>&1"
