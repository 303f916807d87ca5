"""Which items a judge is asked about during a run (LMMS_ROBUST_JUDGE_MODE)."""

from __future__ import annotations

import pytest

from lmms_robust.harness.hooks import JUDGE_MODE_ENV, JudgeConfigError, judge_mode


@pytest.mark.parametrize("value, mode", [(None, "all"), ("", "all"), ("all", "all"), ("rules_first", "rules_first"),
                                         (" Rules_First ", "rules_first")])
def test_judge_mode_values(monkeypatch, value, mode):
    if value is None:
        monkeypatch.delenv(JUDGE_MODE_ENV, raising=False)
    else:
        monkeypatch.setenv(JUDGE_MODE_ENV, value)
    assert judge_mode() == mode


def test_an_unknown_judge_mode_stops_the_run_naming_the_fix(monkeypatch):
    monkeypatch.setenv(JUDGE_MODE_ENV, "rules-only")
    with pytest.raises(JudgeConfigError, match="LMMS_ROBUST_JUDGE_MODE='rules-only' is not a judge mode; use one of "
                                               "all, rules_first"):
        judge_mode()
    assert issubclass(JudgeConfigError, SystemExit)  # lmms-eval's retry of process_results cannot swallow it
