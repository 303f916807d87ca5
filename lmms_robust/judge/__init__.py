"""LLM-judge chain-of-thought consistency (PROTOCOL.md §4): an OpenAI-compatible client, agreement statistics, CLI."""

from lmms_robust.judge.agreement import agreement_summary, cohen_kappa, fleiss_kappa, rule_vs_judge, strict_agreement
from lmms_robust.judge.client import OpenAIJudge, build_prompt, judge_records, parse_verdict

__all__ = ["OpenAIJudge", "agreement_summary", "build_prompt", "cohen_kappa", "fleiss_kappa", "judge_records",
           "parse_verdict", "rule_vs_judge", "strict_agreement"]
