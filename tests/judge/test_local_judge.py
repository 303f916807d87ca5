"""The local transformers judge on a tiny model built by the test: unreadable replies are undetermined, cached."""

from __future__ import annotations

from lmms_robust.judge.client import judge_records
from lmms_robust.judge.local import TransformersJudge
from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

RECORD = {"item_id": "1", "variant": "base", "question": "Which bar is tallest?", "options": [("A", "red"), ("B", "green")],
          "cot": "The green bar is tallest, so the answer is (B).", "answer": "B", "answer_text": "green"}


def test_tiny_local_model_judges_without_guessing_and_never_caches_what_it_could_not_read(tmp_path):
    model = build_tiny_qwen25vl(tmp_path / "tiny")
    judge = TransformersJudge(model, max_new_tokens=8, cache_dir=tmp_path / "cache")
    first = judge_records([RECORD, {**RECORD, "item_id": "2", "answer": None}], judge)
    # a random-weight model writes no <verdict> tag (and is cut off at 8 tokens): undetermined with its reason,
    # never a guess
    assert first[0]["verdict"] == "undetermined" and first[0]["reason"] in ("finish_reason_length", "no_verdict_tag")
    assert first[1]["verdict"] == "not_applicable"  # unparsed answer: nothing generated
    assert judge.generations == 1
    again = TransformersJudge(model, max_new_tokens=8, cache_dir=tmp_path / "cache")
    second = judge_records([RECORD], again)
    assert second[0]["verdict"] == "undetermined" and second[0]["cached"] is False and again.generations == 1
    assert not (tmp_path / "cache" / "judge_cache.jsonl").exists()
