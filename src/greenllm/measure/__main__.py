"""``python -m greenllm.measure key=value ...``: same as ``greenllm measure``."""

import sys

from greenllm.cli.main import main

sys.exit(main(["measure", *sys.argv[1:]]))
