#!/usr/bin/env bash
# Snakemake runs this inside the new env: install greenllm from this checkout, editable
# (code changes need no new env), without touching the conda-installed dependencies.
set -euo pipefail
pip install --no-deps --no-build-isolation -e "$(cd "$(dirname "$0")/../.." && pwd)"
