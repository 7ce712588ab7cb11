"""Host CPU and DRAM energy through RAPL (Linux powercap sysfs), where readable.

Zones under ``/sys/class/powercap``: ``intel-rapl:N`` (a CPU package, ``name`` =
``package-N``; also used by the AMD driver) and their subzones ``intel-rapl:N:M`` (``core``,
``uncore``, ``dram``). A package's counter includes its core and uncore subzones but not
DRAM, so the host total is packages + DRAM (``psys``, the platform zone some laptops
have, is recorded but not added: it overlaps the rest). Counters are ``energy_uj``
(microjoules) and wrap at ``max_energy_range_uj``; reading them needs root on kernels
since 5.10 (a side-channel fix). Where nothing is readable the record says
``not available`` and why, never a number.

Scope, recorded with every value: CPU packages and DRAM of this host, nothing else
(not PSU losses, fans, NICs, disks, or other hosts).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

POWERCAP = Path("/sys/class/powercap")
NOT_AVAILABLE = "not available"


@dataclass(frozen=True)
class Zone:
    scope: str  # "package-0", "package-0/dram"
    path: Path
    max_range_uj: int
    counted: bool  # part of the host total (packages and DRAM)

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text())


def discover(root: Path = POWERCAP) -> tuple[list[Zone], str]:
    """Readable RAPL zones, and why there are none ('' when there are)."""
    if not root.is_dir():
        return [], f"{root} does not exist (no powercap driver, or not Linux)"
    zones: list[Zone] = []
    denied = []
    for path in sorted(root.glob("intel-rapl:*")):
        parts = path.name.split(":")
        try:
            name = (path / "name").read_text().strip()
            max_uj = int((path / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            continue
        parent = ""
        if len(parts) == 3:  # a subzone: scope under its package
            try:
                parent = (root / ":".join(parts[:2]) / "name").read_text().strip() + "/"
            except OSError:
                parent = ":".join(parts[:2]) + "/"
        zone = Zone(parent + name, path, max_uj, counted=name.startswith("package") or name == "dram")
        try:
            zone.read_uj()
        except PermissionError:
            denied.append(zone.scope)
            continue
        except (OSError, ValueError):
            continue
        zones.append(zone)
    if zones:
        return zones, ""
    if denied:
        return [], f"RAPL counters are root-only here ({', '.join(denied)})"
    return [], f"no RAPL zone under {root}"


class HostEnergySampler:
    """Reads every RAPL zone every ``period_s`` in a thread; ``window`` gives the energy
    between two ``time.monotonic()`` instants (counters unwrapped, interpolated)."""

    def __init__(self, period_s: float = 0.1, root: Path = POWERCAP, *,
                 enabled: bool = True) -> None:
        self.zones, self.reason = discover(root) if enabled else ([], "switched off "
                                                                  "(attribution.host_energy)")
        self.period_s = float(period_s)
        self._t: list[float] = []
        self._uj: list[list[int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def available(self) -> bool:
        return bool(self.zones)

    def _read(self) -> None:
        try:
            values = [z.read_uj() for z in self.zones]
        except (OSError, ValueError):
            return  # one missed read; the window interpolates across it
        self._t.append(time.monotonic())
        self._uj.append(values)

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self._read()

    def __enter__(self) -> HostEnergySampler:
        if self.available:
            self._read()
            self._thread = threading.Thread(target=self._loop, name="greenllm-rapl", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._read()

    def window(self, t0: float | None, t1: float | None) -> dict[str, Any]:
        """``{"status", "energy_j", "power_mean_w", "domains_j", "scope"}`` or
        ``{"status": "not available", "reason"}``."""
        if not self.available:
            return {"status": NOT_AVAILABLE, "reason": self.reason}
        if t0 is None or t1 is None or not t1 > t0:
            return {"status": NOT_AVAILABLE, "reason": "no energy window"}
        t = np.asarray(self._t, dtype=float)
        if len(t) < 2 or t[0] > t0 or t[-1] < t1:
            return {"status": NOT_AVAILABLE, "reason": "RAPL samples do not cover the window"}
        raw = np.asarray(self._uj, dtype=float)
        domains: dict[str, float] = {}
        for k, zone in enumerate(self.zones):
            steps = np.diff(raw[:, k])
            steps[steps < 0] += zone.max_range_uj + 1  # the counter wrapped
            unwrapped = np.concatenate([[0.0], np.cumsum(steps)])
            e = np.interp(t1, t, unwrapped) - np.interp(t0, t, unwrapped)
            domains[zone.scope] = float(e) / 1e6
        counted = [z.scope for z in self.zones if z.counted]
        total = sum(domains[s] for s in counted)
        return {"status": "ok", "energy_j": total, "power_mean_w": total / (t1 - t0),
                "domains_j": domains, "scope": "RAPL " + "+".join(counted)
                + " (CPU packages and DRAM of this host only)"}


def annotate_host_energy(points: list[dict[str, Any]], host: HostEnergySampler) -> None:
    """Each load point's host energy over its GPU energy window (``host_energy``)."""
    for p in points:
        energy = p.get("energy") or {}
        p["host_energy"] = host.window(energy.get("t0_mono"), energy.get("t1_mono"))
