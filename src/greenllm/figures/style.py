"""What every greenllm figure shares: size, axes, legend, on-face banners, notes, saving.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot state), so rendering many in
one process neither leaks memory nor needs a display. Honesty lives here: a figure drawn
from simulated cells carries a "SIMULATED — not a measurement" watermark, one drawn from
observe-mode cells says the clock was observed, and missing cells are listed on its face.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless everywhere (CI, Snakemake jobs, the GPU box)

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.text import Text

from greenllm.atomic import atomic_path

FIGSIZE_IN = (6.4, 4.0)
PNG_DPI = 150
SIMULATED_BANNER = "SIMULATED — not a measurement"
PARTLY_SIMULATED_BANNER = "PARTLY SIMULATED — not all a measurement"
OBSERVED_CLOCK_NOTE = "clock observed, not pinned (x = mean achieved SM clock)"
MAX_LISTED_MISSING = 8

# Layout fractions: the legend sits right of the axes, notes under them.
_AXES_RECT = (0.11, 0.24, 0.60, 0.64)  # left, bottom, width, height


@dataclass
class Rendered:
    """A drawn figure and the tidy rows behind it (tests check data, not pixels)."""

    fig_id: str
    figure: Figure
    data: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    placeholder_reason: str | None = None

    @property
    def placeholder(self) -> bool:
        return self.placeholder_reason is not None

    def texts(self) -> list[str]:
        """Every string drawn on the figure (titles, labels, banners, notes, legend)."""
        return [t.get_text() for t in self.figure.findobj(Text) if t.get_text()]


def new_axes() -> tuple[Figure, Axes]:
    fig = Figure(figsize=FIGSIZE_IN)
    ax = fig.add_axes(_AXES_RECT)
    ax.grid(True, alpha=0.3, linewidth=0.5)
    ax.tick_params(labelsize=8)
    return fig, ax


def label_axes(ax: Axes, *, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    # Clocks in MHz as plain numbers: with one observed clock (e.g. 1979-1980 MHz)
    # matplotlib would otherwise print ticks as "-1.0 ... 0.0 +1.98e3".
    if ax.get_xaxis().get_scale() == "linear":
        ax.ticklabel_format(axis="x", useOffset=False, style="plain")


def place_legend(ax: Axes, title: str | None = None) -> None:
    """Move the legend right of the axes (``title`` for single-encoding legends)."""
    legend = ax.get_legend()
    if legend is None:
        return
    handles, labels = ax.get_legend_handles_labels()
    legend.remove()
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7,
              title=title, title_fontsize=7, frameon=False, borderaxespad=0.0)


def mark_provenance(fig: Figure, data: pd.DataFrame, observed_clock: bool) -> None:
    """Banners that must travel with the image: simulated data, observed clocks."""
    simulated = data["simulated"].astype(bool) if len(data) else pd.Series(dtype=bool)
    if simulated.any():
        text = SIMULATED_BANNER if simulated.all() else PARTLY_SIMULATED_BANNER
        fig.text(0.5, 0.55, text, ha="center", va="center", rotation=22, fontsize=22,
                 color="red", alpha=0.22, weight="bold", zorder=10)
        fig.text(0.99, 0.985, text, ha="right", va="top", fontsize=8, color="red", weight="bold")
    if observed_clock:
        fig.text(0.01, 0.985, OBSERVED_CLOCK_NOTE, ha="left", va="top", fontsize=7,
                 color="darkorange")


def add_notes(fig: Figure, notes: list[str]) -> None:
    if not notes:
        return
    text = "\n".join(textwrap.fill(n, width=120) for n in notes)
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=6, color="dimgray")


def missing_note(missing: list[str]) -> list[str]:
    """One note line listing what a figure could not show (truncated)."""
    if not missing:
        return []
    shown = missing[:MAX_LISTED_MISSING]
    more = len(missing) - len(shown)
    tail = f"; and {more} more" if more > 0 else ""
    return [f"Not shown ({len(missing)}): " + "; ".join(shown) + tail]


def placeholder(fig_id: str, title: str, reason: str, notes: list[str]) -> Rendered:
    """A page that says why there is no plot, so a workflow never breaks for lack of data."""
    fig = Figure(figsize=FIGSIZE_IN)
    fig.text(0.5, 0.72, title, ha="center", va="center", fontsize=10)
    fig.text(0.5, 0.55, "No data to plot", ha="center", va="center", fontsize=16, color="gray")
    fig.text(0.5, 0.42, textwrap.fill(reason, width=80), ha="center", va="center", fontsize=8)
    add_notes(fig, notes)
    return Rendered(fig_id, fig, pd.DataFrame(), notes, placeholder_reason=reason)


def save(rendered: Rendered, out_pdf: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``out_pdf`` and the PNG beside it, each atomically."""
    pdf = Path(out_pdf)
    png = pdf.with_suffix(".png")
    # No creation date: re-rendering the same data gives the same PDF bytes.
    with atomic_path(pdf, suffix=".pdf") as tmp:
        rendered.figure.savefig(tmp, format="pdf", metadata={"CreationDate": None})
    with atomic_path(png, suffix=".png") as tmp:
        rendered.figure.savefig(tmp, format="png", dpi=PNG_DPI)
    return pdf, png
