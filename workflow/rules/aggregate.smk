# Tables: one per study, from exactly that study's cells, so that making one figure runs
# only the engine instances its study needs; and one over every planned cell for the
# claims check.


rule study_table:
    input:
        cells=study_cell_jsons,
    output:
        f"{RESULTS}/tables/{{study}}.parquet",
    log:
        f"{LOGS}/aggregate/{{study}}.log",
    params:
        greenllm=GREENLLM,
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} aggregate --cells {input.cells:q} --out {output:q} > {log:q} 2>&1"


rule cells_table:
    input:
        cells=all_cell_jsons,
    output:
        PLAN.all_cells_table(),
    log:
        f"{LOGS}/aggregate/cells.log",
    params:
        greenllm=GREENLLM,
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} aggregate --cells {input.cells:q} --out {output:q} > {log:q} 2>&1"
