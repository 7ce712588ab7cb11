"""The studies and the figures each one draws (the contract shared with the figure code)."""

from __future__ import annotations

STUDY_NAMES: tuple[str, ...] = ("workload", "tp", "batch")

FIGURES: tuple[tuple[str, str], ...] = (
    ("fig01_ttft_vs_clock_workloads", "workload"),
    ("fig02_tbt_vs_clock_workloads", "workload"),
    ("fig03_max_throughput_vs_clock_workloads", "workload"),
    ("fig04_max_power_vs_clock_workloads", "workload"),
    ("fig05_energy_vs_clock_workloads", "workload"),
    ("fig06_ttft_vs_clock_tp", "tp"),
    ("fig07_tbt_vs_clock_tp", "tp"),
    ("fig08_max_throughput_tp", "tp"),
    ("fig09_max_power_tp", "tp"),
    ("fig10_energy_tp", "tp"),
    ("fig11_ttft_vs_clock_batch", "batch"),
    ("fig12_tbt_vs_clock_batch", "batch"),
    ("fig13_max_throughput_batch", "batch"),
    ("fig14_max_power_batch", "batch"),
    ("fig15_energy_batch", "batch"),
)
FIGURE_STUDY: dict[str, str] = dict(FIGURES)
