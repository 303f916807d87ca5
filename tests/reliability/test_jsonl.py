"""The one JSONL reader/writer (lmms_robust/jsonl.py) and the files read through it (issue 15, point 5).

Each reader used ``str.splitlines()``, which also breaks lines at U+2028, U+2029, U+0085, \\v and \\f: one model
output holding one of them made ``report`` exit 2, the writer unable to resume its own file, and cache entries lost.
"""

from __future__ import annotations

import json

import pytest

from lmms_robust.jsonl import JsonlError, append_lines, dumps_line, read_jsonl, write_jsonl
from lmms_robust.llm import JsonlCache

LINE_BREAKERS = ["\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e"]
"""Every character ``str.splitlines()`` splits on besides \\n and \\r."""


def test_splitlines_breaks_on_every_one_of_these_characters():  # the premise of this file
    for char in LINE_BREAKERS:
        assert len(f"a{char}b".splitlines()) == 2, repr(char)


@pytest.mark.parametrize("char", LINE_BREAKERS)
def test_a_line_breaker_inside_a_string_stays_text(tmp_path, char):
    path = tmp_path / "f.jsonl"
    rows = [{"response": f"first{char}second"}, {"response": "plain"}]
    write_jsonl(path, rows)
    # JSON escapes control characters below U+0020; U+2028, U+2029 and U+0085 are written as they are
    assert (char in path.read_text(encoding="utf-8")) == (char in "\u2028\u2029\u0085")
    read = read_jsonl(path)
    assert read.values == rows and [n for n, _ in read.rows] == [1, 2]


def test_bom_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\r\n\r\n  \n{"a": 2}\r\n')
    read = read_jsonl(path)
    assert read.rows == [(1, {"a": 1}), (4, {"a": 2})]


def test_a_last_line_without_a_line_end_is_read_when_it_is_whole(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}')
    assert read_jsonl(path).values == [{"a": 1}, {"a": 2}]


def test_a_torn_last_line_is_an_error_or_skipped_with_its_place(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2, "b": "cut he')
    with pytest.raises(JsonlError, match=r"f\.jsonl:2: the last line is cut short"):
        read_jsonl(path)
    read = read_jsonl(path, torn_tail="skip")
    assert read.values == [{"a": 1}] and read.torn_line == 2 and read.torn_offset == len(b'{"a": 1}\n')


def test_a_cut_inside_a_multibyte_character_is_a_torn_tail_too(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n' + '{"a": "é'.encode()[:-1])
    assert read_jsonl(path, torn_tail="skip").torn_line == 2


@pytest.mark.parametrize("data, expected", [
    (b'{"a": 1}\n{broken}\n{"a": 3}\n', r"f\.jsonl:2: not JSON"),
    (b'{"a": 1}\n{"a": "\xff"}\n', r"f\.jsonl:2: not UTF-8 \(byte 8 of the line is 0xff\)"),
    (b'{"a": 1}\n{"a": 2}\n{torn', r"f\.jsonl:3: the last line is cut short"),
    (b"\xff\xfe{\x00}\x00", r"f\.jsonl:1: UTF-16 text"),
    (b'{"a": 1}\n{"r": "x\\ud800y"}\n', r"f\.jsonl:2: key 'r' holds a lone surrogate"),
])
def test_every_problem_names_file_and_line(tmp_path, data, expected):
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    with pytest.raises(JsonlError, match=expected):
        read_jsonl(path, fix="the fix")
    with pytest.raises(JsonlError, match="; the fix$"):
        read_jsonl(path, fix="the fix")


def test_a_middle_line_that_is_not_json_is_never_skipped(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{broken\n{"a": 3}\n')
    with pytest.raises(JsonlError, match=":2:"):
        read_jsonl(path, torn_tail="skip")


def test_a_lone_surrogate_is_written_escaped_and_reads_back_the_same(tmp_path):
    path = tmp_path / "f.jsonl"
    value = {"reply": "half \ud83d of an emoji", "plain": "é"}
    assert dumps_line(value) == '{"reply": "half \\ud83d of an emoji", "plain": "\\u00e9"}\n'
    assert dumps_line({"plain": "é"}) == '{"plain": "é"}\n'  # readable when nothing needs escaping
    write_jsonl(path, [value])
    path.read_bytes().decode("utf-8")  # valid UTF-8
    assert read_jsonl(path, lone_surrogates="keep").values == [value]


def test_append_starts_a_fresh_line_after_a_last_line_without_one(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}')
    append_lines(path, [{"a": 2}, {"a": 3}])
    assert read_jsonl(path).values == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_write_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "f.jsonl"
    write_jsonl(path, [{"a": 1}])

    def failing():
        yield {"a": 2}
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        write_jsonl(path, failing())
    assert read_jsonl(path).values == [{"a": 1}]  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.jsonl"]


def test_duplicate_keys_refused_by_the_hook_name_the_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_text('{"a": 1}\n{"a": 1, "a": 2}\n')

    def unique(pairs):
        if len({k for k, _ in pairs}) < len(pairs):
            raise ValueError("a key given twice")
        return dict(pairs)

    with pytest.raises(JsonlError, match=r":2: a key given twice"):
        read_jsonl(path, object_pairs_hook=unique)


# ------------------------------------------------------------------------------------------------ the caches


def test_a_cache_keeps_a_reply_with_u2028_across_a_reload(tmp_path):
    path = tmp_path / "cache.jsonl"
    JsonlCache(path).put({"key": "k1", "reply": "one\u2028two"})
    JsonlCache(path).put({"key": "k2", "reply": "three"})
    again = JsonlCache(path)
    assert again.get("k1")["reply"] == "one\u2028two" and again.get("k2")["reply"] == "three"
    assert again.ignored == []


def test_a_cache_cut_by_a_crash_drops_the_torn_entry_and_the_next_one_is_kept(tmp_path):
    path = tmp_path / "cache.jsonl"
    path.write_bytes(b'{"key": "k1", "reply": "a"}\n{"key": "k2", "rep')
    cache = JsonlCache(path)
    assert cache.get("k1")["reply"] == "a" and cache.get("k2") is None
    cache.put({"key": "k3", "reply": "c"})  # would have been glued to the torn line
    assert JsonlCache(path).get("k3")["reply"] == "c"
    assert read_jsonl(path).values == [{"key": "k1", "reply": "a"}, {"key": "k3", "reply": "c"}]


def test_a_non_utf8_cache_file_is_an_error_naming_the_line_and_the_fix(tmp_path):
    path = tmp_path / "judge_cache.jsonl"
    path.write_bytes(b'{"key": "k1", "verdict": "consistent"}\n{"key": "k2", "verdict": "\xe9"}\n')
    with pytest.raises(JsonlError, match=r"judge_cache\.jsonl:2: not UTF-8.*delete that line, or the whole cache"):
        JsonlCache(path)


def test_cache_entries_that_are_not_entries_or_refused_are_never_served(tmp_path):
    path = tmp_path / "cache.jsonl"
    lines = [{"key": "k1", "verdict": "consistent"}, {"key": "k2"}, {"key": "k3", "verdict": "maybe"}, [1, 2],
             {"no_key": 1}, {"key": 5}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    cache = JsonlCache(path, accept=lambda e: e.get("verdict") in ("consistent", "inconsistent"))
    assert cache.get("k1") is not None and cache.get("k2") is None and cache.get("k3") is None
    assert cache.ignored == [2, 3, 4, 5, 6]


def test_judge_cli_with_a_non_utf8_cache_is_exit_2_naming_the_line(tmp_path, capsys):
    from lmms_robust.cli import main
    from tests.report.records import series, write_run

    run = write_run(tmp_path / "run", {"bench_base": series("base", {"a": True})})
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "judge_cache.jsonl").write_bytes(b'{"key": "k", "verdict": "\xff"}\n')
    code = main(["judge", str(run), "--base-url", "http://127.0.0.1:9", "--model", "j", "-o", str(tmp_path / "v.jsonl"),
                 "--cache-dir", str(cache)])
    assert code == 2 and "judge_cache.jsonl:1: not UTF-8" in capsys.readouterr().err
