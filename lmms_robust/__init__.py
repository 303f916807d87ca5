"""lmms-robust: robustness, CoT consistency and answer uncertainty for VLM reasoning models (lmms-eval plugin)."""

__version__ = "0.1.0"
