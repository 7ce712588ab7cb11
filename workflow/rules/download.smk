# The model folder `greenllm measure` serves (config.json + tokenizer, weights only for
# load_format real). model.source: builtin = Llama shape + word-level tokenizer built
# locally (offline, no licence click-through); hub = huggingface_hub snapshot (token
# from $HF_TOKEN, never logged); local = check an existing folder (offline).
#
# The declared output is a small marker, not the folder: Snakemake deletes the declared
# outputs of a failed job (and directory() outputs before a job runs), which would throw
# away a partial multi-GB hub download that huggingface_hub could otherwise resume.

# Runs on the submit host: under a cluster executor, compute nodes often lack internet.
localrules:
    download,


rule download:
    output:
        PLAN.model_marker(),
    log:
        f"{LOGS}/download/{PLAN.model_name}.log",
    params:
        greenllm=GREENLLM,
        args=download_args(),
    conda:
        "../envs/greenllm.yaml"
    shell:
        "{params.greenllm} download {params.args} --marker {output:q} > {log:q} 2>&1"
