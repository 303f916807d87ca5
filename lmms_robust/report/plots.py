"""PNG plots of one benchmark's rows (matplotlib's Agg canvas; the global pyplot backend is never touched).

Labels are plain text: model and benchmark names come from the runs, and matplotlib would otherwise read ``$...$``
as mathtext (``$\\notacommand{x}$`` raises at draw time) and drop legend entries whose label starts with ``_``.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from lmms_robust.report.paired import order_variants

__all__ = ["plot_accuracy", "plot_quadrants", "plot_uncertainty"]

QUADRANT_KEYS = ("q_consistent_correct", "q_inconsistent_correct", "q_consistent_incorrect",
                 "q_inconsistent_incorrect", "q_undetermined")
QUADRANT_LABELS = ("consistent, correct", "inconsistent, correct", "consistent, wrong", "inconsistent, wrong",
                   "undetermined")
QUADRANT_COLORS = ("#2b8a3e", "#94d82d", "#e03131", "#f08c00", "#adb5bd")


def _plain_text(plot):
    """Run ``plot`` with mathtext parsing off for every text it creates and draws."""

    @functools.wraps(plot)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.parse_math": False, "text.usetex": False}):
            return plot(*args, **kwargs)

    return wrapper


def _label(name: str) -> str:
    """A legend label matplotlib keeps (it hides labels starting with ``_``)."""
    return f" {name}" if name.startswith("_") else name


def _figure(n_models: int, n_variants: int, n_cols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = max(6.0, 0.55 * n_variants * n_cols + 2.5)
    fig = Figure(figsize=(width, 2.6 * n_models + 0.8), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _by_model(rows: list[dict]) -> tuple[list[str], list[str], dict]:
    models = sorted({r["model"] for r in rows})
    variants = order_variants(r["variant"] for r in rows)
    table = {(r["model"], r["variant"]): r["metrics"] for r in rows}
    return models, variants, table


def _value(metrics: dict | None, key: str) -> float:
    value = None if metrics is None else metrics.get(key)
    return float("nan") if value is None else float(value)


@_plain_text
def plot_accuracy(rows: list[dict], benchmark: str, path: Path) -> Path:
    """Accuracy and consistent accuracy per variant, one panel per model (n/a bars left empty)."""
    models, variants, table = _by_model(rows)
    fig = _figure(len(models), len(variants))
    xs = range(len(variants))
    for k, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, k + 1)
        acc = [_value(table.get((model, v)), "acc") for v in variants]
        cacc = [_value(table.get((model, v)), "consistent_acc") for v in variants]
        ax.bar([x - 0.2 for x in xs], acc, width=0.4, label="acc", color="#1971c2")
        ax.bar([x + 0.2 for x in xs], cacc, width=0.4, label="consistent acc", color="#74c0fc")
        for x, a, c in zip(xs, acc, cacc):
            if math.isnan(a):
                ax.text(x - 0.2, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
            if math.isnan(c):
                ax.text(x + 0.2, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of items")
        ax.set_title(f"{benchmark}: {model}", fontsize=9)
        ax.set_xticks(list(xs), variants, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


@_plain_text
def plot_quadrants(rows: list[dict], benchmark: str, path: Path) -> Path:
    """Consistency quadrants stacked per variant, one panel per model (variants without a CoT stay empty)."""
    models, variants, table = _by_model(rows)
    fig = _figure(len(models), len(variants))
    xs = list(range(len(variants)))
    for k, model in enumerate(models):
        ax = fig.add_subplot(len(models), 1, k + 1)
        bottom = [0.0] * len(variants)
        for key, label, color in zip(QUADRANT_KEYS, QUADRANT_LABELS, QUADRANT_COLORS):
            values = [_value(table.get((model, v)), key) for v in variants]
            heights = [0.0 if math.isnan(h) else h for h in values]
            ax.bar(xs, heights, bottom=bottom, label=label, color=color, width=0.6)
            bottom = [b + h for b, h in zip(bottom, heights)]
        for x, total in zip(xs, bottom):
            if total == 0.0:
                ax.text(x, 0.02, "n/a", ha="center", fontsize=7, rotation=90)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share of items")
        ax.set_title(f"{benchmark}: {model}", fontsize=9)
        ax.set_xticks(xs, variants, rotation=35, ha="right", fontsize=8)
        ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


@_plain_text
def plot_uncertainty(rows: list[dict], benchmark: str, path: Path) -> Path | None:
    """Mean letter entropy and mean p_correct per variant, a line per model; None (no file) without data."""
    if not any(r["metrics"].get(key) is not None for r in rows for key in ("letter_entropy", "p_correct")):
        return None
    models, variants, table = _by_model(rows)
    fig = _figure(1, len(variants), n_cols=2)
    xs = list(range(len(variants)))
    for k, (key, label) in enumerate((("letter_entropy", "mean letter entropy (nats)"),
                                      ("p_correct", "mean P(correct letter)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        for model in models:
            ax.plot(xs, [_value(table.get((model, v)), key) for v in variants], marker="o", label=_label(model))
        ax.set_title(f"{benchmark}: {label}", fontsize=9)
        ax.set_xticks(xs, variants, rotation=35, ha="right", fontsize=8)
        ax.set_ylim(0, 1.05) if key == "p_correct" else ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path
