import json

import pytest

from lmms_robust.judge.client import (
    CACHE_FILE,
    NOT_APPLICABLE,
    UNDETERMINED,
    OpenAIJudge,
    build_prompt,
    judge_cache_key,
    judge_records,
    parse_verdict,
)


def rec(mode: str, item_id: str | None = None, **kw) -> dict:
    base = {"item_id": item_id or mode, "variant": "base", "task": "t", "question": f"Which one? MODE={mode}",
            "options": [("A", "cat"), ("B", "dog")], "cot": "It barks, so the answer is (B).", "answer": "B",
            "answer_text": "dog"}
    base.update(kw)
    return base


def judge(server, **kw) -> OpenAIJudge:
    kw = {"max_concurrency": 4, "retries": 0, "timeout": 5, "backoff": 0.01, **kw}
    return OpenAIJudge(server.base_url, "judge-m", **kw)


@pytest.mark.parametrize("text, expected", [
    ("<verdict>CONSISTENT</verdict>", ("consistent", None)),
    ("blah\n<verdict> inconsistent </verdict>", ("inconsistent", None)),
    ("<verdict>NO_CONCLUSION</verdict>", ("no_conclusion", None)),
    ("<think><verdict>CONSISTENT</verdict> hmm</think><verdict>INCONSISTENT</verdict>", ("inconsistent", None)),
    ("CONSISTENT", (UNDETERMINED, "no_verdict_tag")),
    ("<verdict>CONSISTENT", (UNDETERMINED, "unclosed_verdict_tag")),
    ("<verdict>CONSISTENT</verdict><verdict>CONSISTENT</verdict>", (UNDETERMINED, "several_verdict_tags")),
    ("<verdict>probably consistent</verdict>", (UNDETERMINED, "unknown_verdict:probably consistent")),
    (None, (UNDETERMINED, "reply_not_text")),
])
def test_parse_verdict_is_strict(text, expected):
    assert parse_verdict(text) == expected


def test_prompt_renders_inputs():
    prompt = build_prompt("What is shown? ", [("A", "cat"), ("B", "dog")], "so the answer is (B).", "B", "dog")
    assert "(A) cat\n(B) dog" in prompt and "so the answer is (B)." in prompt and "Final answer: (B) dog" in prompt
    assert "<verdict>" in prompt and "NO_CONCLUSION" in prompt
    free = build_prompt("How many?", [], "2+2=4", "4")
    assert "Options" not in free and "Final answer: 4" in free


def test_scripted_verdicts_in_order_and_not_applicable_sends_nothing(server):
    records = [rec("CONSISTENT"), rec("INCONSISTENT"), rec("NO_CONCLUSION"), rec("garbage"),
               rec("CONSISTENT", "nocot", cot=None), rec("CONSISTENT", "unparsed", answer=None),
               rec("CONSISTENT", "stop", consistency_applicable=False)]
    j = judge(server)
    out = judge_records(records, j)
    assert [v["verdict"] for v in out] == ["consistent", "inconsistent", "no_conclusion", UNDETERMINED,
                                           NOT_APPLICABLE, NOT_APPLICABLE, NOT_APPLICABLE]
    assert [v["reason"] for v in out[3:]] == ["no_verdict_tag", "no_cot", "answer_unparsed",
                                             "consistency_not_applicable"]
    assert [v["item_id"] for v in out] == [r["item_id"] for r in records]
    assert all(v["judge"] == "judge-m" and v["task"] == "t" for v in out)
    assert server.requests == 4 == j.requests_sent
    body = server.bodies[0]
    assert body["temperature"] == 0 and body["model"] == "judge-m" and len(body["messages"]) == 1


def test_timeout_is_undetermined(server):
    out = judge_records([rec("sleep")], judge(server, timeout=0.3, retries=1))
    assert out[0]["verdict"] == UNDETERMINED and "timeout" in out[0]["reason"] and out[0]["attempts"] == 2


@pytest.mark.parametrize("mode, reason", [("badjson", "malformed_json"), ("nochoices", "malformed_response"),
                                          ("notfound", "http_404")])
def test_malformed_and_client_errors_are_undetermined_without_retry(server, mode, reason):
    out = judge_records([rec(mode)], judge(server, retries=3))
    assert out[0]["verdict"] == UNDETERMINED and out[0]["reason"].startswith(reason)
    assert server.requests == 1


def test_5xx_then_success_retries(server):
    out = judge_records([rec("flaky")], judge(server, retries=3))
    assert out[0]["verdict"] == "inconsistent" and out[0]["attempts"] == 3 and server.requests == 3


def test_5xx_always_is_undetermined_after_retries(server):
    out = judge_records([rec("down")], judge(server, retries=2))
    assert out[0]["verdict"] == UNDETERMINED and "http_503" in out[0]["reason"] and out[0]["attempts"] == 3
    assert server.requests == 3


def test_cache_second_run_sends_only_what_was_not_read(server, tmp_path):
    records = [rec("CONSISTENT"), rec("INCONSISTENT"), rec("garbage")]
    first = judge_records(records, judge(server, cache_dir=tmp_path))
    assert server.requests == 3 and not any(v["cached"] for v in first)
    second_judge = judge(server, cache_dir=tmp_path)
    second = judge_records(records, second_judge)
    # the two verdicts are served from the cache; the unreadable reply was never cached: asked again
    assert server.requests == 4 and second_judge.requests_sent == 1
    assert [v["cached"] for v in second] == [True, True, False]
    assert [v["verdict"] for v in second] == [v["verdict"] for v in first]
    lines = [json.loads(x) for x in (tmp_path / CACHE_FILE).read_text().splitlines()]
    assert len(lines) == 2 and all(len(x["key"]) == 64 and x["verdict"] in ("consistent", "inconsistent")
                                   for x in lines)
    # another judge model is another key: asked again
    other = OpenAIJudge(server.base_url, "judge-other", retries=0, cache_dir=tmp_path)
    judge_records(records[:1], other)
    assert server.requests == 5


@pytest.mark.parametrize("text, finish_reason, expected", [
    ("<think>It ends on B. <verdict>CONSISTENT</verdict>. But wait", "length", (UNDETERMINED, "finish_reason_length")),
    ("<think>It ends on B. <verdict>CONSISTENT</verdict>. But wait", "stop", (UNDETERMINED, "unclosed_think")),
    ("<think>ok</think><verdict>CONSISTENT</verdict>", "length", (UNDETERMINED, "finish_reason_length")),
    ("<verdict>CONSISTENT</verdict>", None, (UNDETERMINED, "finish_reason_missing")),
    ("<think>a</think><think>b</think><verdict>INCONSISTENT</verdict>", "stop", ("inconsistent", None)),
    ("<think>draft <verdict>CONSISTENT</verdict></think>", "stop", (UNDETERMINED, "no_verdict_tag")),
])
def test_only_a_verdict_after_a_closed_think_block_of_a_finished_reply_counts(text, finish_reason, expected):
    assert parse_verdict(text, finish_reason) == expected


def test_a_thinking_judge_cut_off_is_undetermined_and_asked_again_with_more_tokens(server, tmp_path):
    short = judge(server, cache_dir=tmp_path, max_tokens=32)
    cut = judge_records([rec("thinker")], short)[0]
    assert (cut["verdict"], cut["reason"]) == (UNDETERMINED, "finish_reason_length")  # not its draft CONSISTENT
    assert judge_records([rec("thinker")], judge(server, cache_dir=tmp_path, max_tokens=32))[0]["cached"] is False
    assert server.requests == 2  # a cut-off reply is never cached
    roomy = judge(server, cache_dir=tmp_path, max_tokens=512)
    assert judge_records([rec("thinker")], roomy)[0]["verdict"] == "inconsistent"
    again = judge(server, cache_dir=tmp_path, max_tokens=512)
    assert judge_records([rec("thinker")], again)[0]["cached"] is True and again.requests_sent == 0
    assert judge_records([rec("nofinish")], judge(server))[0]["reason"] == "finish_reason_missing"


def test_the_cache_key_holds_everything_that_changes_the_reply(server, tmp_path, monkeypatch):
    from lmms_robust.judge import client

    base = judge_cache_key("m", "p", 256, 0)
    assert len({base, judge_cache_key("m2", "p", 256, 0), judge_cache_key("m", "p2", 256, 0),
                judge_cache_key("m", "p", 512, 0), judge_cache_key("m", "p", 256, 0.7)}) == 5
    judge_records([rec("CONSISTENT")], judge(server, cache_dir=tmp_path))
    judge_records([rec("CONSISTENT")], judge(server, cache_dir=tmp_path))
    assert server.requests == 1
    monkeypatch.setattr(client, "template_sha256", lambda: "another template")
    judge_records([rec("CONSISTENT")], judge(server, cache_dir=tmp_path))
    assert server.requests == 2  # a changed prompt template is another key


def test_cache_entries_without_a_valid_verdict_are_ignored_with_a_warning(server, tmp_path):
    prompt = build_prompt("Which one? MODE=CONSISTENT", [("A", "cat"), ("B", "dog")],
                          "It barks, so the answer is (B).", "B", "dog")
    key = judge_cache_key("judge-m", prompt, None, 0)
    bad = [{"key": key, "model": "judge-m"}, {"key": key, "verdict": 5}, {"key": key, "verdict": "undetermined"},
           {"key": key, "verdict": "maybe"}]
    for entry in bad:
        (tmp_path / CACHE_FILE).write_text(json.dumps(entry) + "\n" + "[1, 2]\n" + "{cut off", encoding="utf-8")
        with pytest.warns(UserWarning, match="line\\(s\\) 1, 2 hold no valid verdict"):
            fresh = judge(server, cache_dir=tmp_path)
        out = judge_records([rec("CONSISTENT")], fresh)
        assert (out[0]["verdict"], out[0]["cached"]) == ("consistent", False)  # asked, never served
    assert server.requests == len(bad)


def test_transport_failures_are_not_cached(server, tmp_path):
    judge_records([rec("down")], judge(server, cache_dir=tmp_path))
    judge_records([rec("down")], judge(server, cache_dir=tmp_path))
    assert server.requests == 2


def test_concurrency_is_bounded(server):
    records = [rec("slow", f"i{k}", question=f"Q{k} MODE=slow") for k in range(12)]
    out = judge_records(records, judge(server, max_concurrency=3))
    assert all(v["verdict"] == "consistent" for v in out)
    assert server.requests == 12
    assert 2 <= server.max_in_flight <= 3


def test_base_url_forms():
    assert OpenAIJudge("http://h:1", "m").url == "http://h:1/v1/chat/completions"
    assert OpenAIJudge("http://h:1/v1/", "m").url == "http://h:1/v1/chat/completions"
    with pytest.raises(ValueError):
        OpenAIJudge("http://h:1", "m", max_concurrency=0)
