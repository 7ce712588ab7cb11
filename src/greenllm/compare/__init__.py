"""A/B comparisons that *run* loads (above ``load`` and ``analysis``): ``runner``
interleaves two procedures, ``adapters`` are the two it compares on a server (greenllm's
client and ``vllm bench serve``). ``greenllm.analysis.compare`` only compares the numbers.
"""
