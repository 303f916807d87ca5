"""Paired robustness report over lmms-eval output folders (PROTOCOL.md §4 "Paired").

``build_report(run_dirs, out)`` writes ``report.md``, ``report.csv``, ``leaderboard.json`` (schema:
``leaderboard.schema.json``, fields documented in ``lmms_robust.report.leaderboard``), PNG plots and a
self-contained ``report.html``. The math lives in ``lmms_robust.report.paired``: pure functions over per-item
record dicts (no lmms_eval import).
"""

from lmms_robust.report.build import build_report
from lmms_robust.report.leaderboard import SCHEMA_PATH, SCHEMA_VERSION, validate_leaderboard
from lmms_robust.report.load import ReportInputError
from lmms_robust.report.paired import analyze, auroc, bootstrap_ci, flip_rates, paired_metrics, variant_metrics

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "ReportInputError",
    "analyze",
    "auroc",
    "bootstrap_ci",
    "build_report",
    "flip_rates",
    "paired_metrics",
    "validate_leaderboard",
    "variant_metrics",
]
