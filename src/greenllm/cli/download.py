"""``greenllm download``: prepare the model folder a measure run serves.

    greenllm download --model llama2-70b                      # builtin shape, offline
    greenllm download --model llama2-7b --source hub --repo-id meta-llama/Llama-2-7b-hf
    greenllm download --model mine --source local --dest /data/my-llama --load-format real
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "download",
        help="build, download (Hugging Face hub) or check a model folder",
        description="Prepare the model folder `greenllm measure` serves: config.json and "
        "tokenizer always, weights only with --load-format real. The hub token comes "
        "from $HF_TOKEN (or `hf auth login`) and is never printed.",
    )
    p.add_argument("--model", required=True, help="greenllm model id, e.g. llama2-70b")
    p.add_argument("--source", choices=("builtin", "hub", "local"), default="builtin",
                   help="builtin: weightless folder of a built-in shape, built locally "
                   "(default); hub: huggingface_hub snapshot; local: check --dest")
    p.add_argument("--dest", type=Path, default=None,
                   help="model folder (default results/models/<model>); for --source "
                   "local, the existing folder")
    p.add_argument("--load-format", choices=("dummy", "real"), default="dummy",
                   help="dummy: no weights (default); real: weights too")
    p.add_argument("--repo-id", default=None, help="hub repo, e.g. meta-llama/Llama-2-70b-hf")
    p.add_argument("--revision", default=None, help="hub branch, tag or commit")
    p.add_argument("--marker", type=Path, default=None,
                   help="also write a JSON record of the folder here (for Snakemake)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from greenllm.atomic import write_json
    from greenllm.models import ModelRequest, prepare_model

    req = ModelRequest(
        name=args.model,
        source=args.source,
        dest=args.dest or Path("results/models") / args.model,
        load_format=args.load_format,
        repo_id=args.repo_id,
        revision=args.revision,
    )
    req.check()  # bad arguments fail before any network or disk work
    print(f"greenllm download: {req.source} {req.name} -> {req.dest}", file=sys.stderr)
    record = prepare_model(req)
    if args.marker:
        write_json(args.marker, record)
    print(f"greenllm download: ready {record['path']} ({len(record['files'])} files)",
          file=sys.stderr)
    return 0
