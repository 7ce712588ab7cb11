"""The simulator checked against measurements and the paper's claims: a layer above both
``sim`` (the engine) and ``analysis`` (claims, tables), which ``sim`` must not import.

* ``reference``: load a committed real-GPU reference dataset (cell summaries).
* ``calibration_check``: replay a committed real-GPU reference dataset in virtual time
  and compare (``python -m greenllm.calibrate.calibration_check``).
* ``clock_sweep``: the paper's workload study in virtual time with its claim checks
  (``python -m greenllm.calibrate.clock_sweep``).
"""
