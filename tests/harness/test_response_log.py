"""The response log on its own: keys, torn tails, bad lines (hand-made files)."""

from __future__ import annotations

import json

import pytest

from lmms_robust.models.response_log import ResponseLog, ResponseLogError, request_key

MODEL = {"backend": "b", "checkpoint": "/m", "revision": None, "dtype": "float32", "batch_size": 1}


def test_the_key_changes_with_what_decides_the_response_and_not_with_batching():
    key = request_key("t", "1", "prompt", {"max_new_tokens": 8}, MODEL)
    assert key == request_key("t", "1", "prompt", {"max_new_tokens": 8}, {**MODEL, "batch_size": 8})
    for other in (request_key("t", "2", "prompt", {"max_new_tokens": 8}, MODEL),
                  request_key("t", "1", "prompt!", {"max_new_tokens": 8}, MODEL),
                  request_key("t", "1", "prompt", {"max_new_tokens": 9}, MODEL),
                  request_key("t", "1", "prompt", {"max_new_tokens": 8}, {**MODEL, "dtype": "bfloat16"})):
        assert other != key


def test_responses_survive_a_restart_and_a_torn_tail_is_cut_off_and_regenerated(tmp_path):
    log = ResponseLog(tmp_path, rank=0)
    log.add("k1", "one\u2028two", "t", "1")  # a line separator inside a response is text, not a line end
    log.add("k2", "two", "t", "2")
    log.flush()
    with open(tmp_path / "rank0.jsonl", "ab") as handle:
        handle.write(b'{"key": "k3", "respo')  # the kill came mid-write
    again = ResponseLog(tmp_path, rank=0)
    assert again.responses == {"k1": "one\u2028two", "k2": "two"}
    assert len(again.skipped) == 1 and "rank0.jsonl:3" in again.skipped[0]
    again.add("k3", "three", "t", "3")
    again.flush()
    assert ResponseLog(tmp_path, rank=0).responses == {"k1": "one\u2028two", "k2": "two", "k3": "three"}
    assert (tmp_path / "rank0.jsonl").read_bytes().count(b"\n") == 3


def test_other_ranks_files_are_read_too(tmp_path):
    (tmp_path / "rank1.jsonl").write_text(json.dumps({"key": "k9", "response": "nine"}) + "\n")
    log = ResponseLog(tmp_path, rank=0)
    assert log.get("k9") == "nine" and log.get("k0") is None and log.hits == 1


def test_a_bad_line_in_the_middle_is_an_error_naming_it(tmp_path):
    (tmp_path / "rank0.jsonl").write_text('{"key": "a", "response": "x"}\nnot json\n{"key": "b", "response": "y"}\n')
    with pytest.raises(ResponseLogError, match=r"rank0\.jsonl:2"):
        ResponseLog(tmp_path, rank=0)
    (tmp_path / "rank0.jsonl").write_text('{"key": "a"}\n')
    with pytest.raises(ResponseLogError, match=r"rank0\.jsonl:1: a response log line is"):
        ResponseLog(tmp_path, rank=0)
