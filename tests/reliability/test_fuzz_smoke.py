"""The parser under hostile outputs: a small run of benchmarks/fuzz_parse.py, property tests, and the cases the full
fuzz run found (tags as line and sentence boundaries; blanks next to a tag never matter)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import LETTERS, Item
from lmms_robust.core.parse import answers_match, is_correct, parse_response

from tests.regex_work import count_regex_work

from .conftest import FUZZ_PATH, ROOT, load_fuzzer

FUZZ = load_fuzzer()
ITEMS = FUZZ.ITEMS


def test_a_few_thousand_fuzzed_outputs_fail_no_check(fuzzer):
    stats = fuzzer.run_fuzz(n=3_000, seed=7, progress=None, n_huge=2)
    assert stats.failures == []
    assert stats.n_cases == 3_000 and stats.n_whitespace_variants > 1_000 and stats.n_clean_checked > 50
    assert set(stats.families) == {*fuzzer.FAMILIES, "huge"}  # every family, and 1 MB outputs, were exercised


@pytest.mark.parametrize("family", ["tag_soup", "structured", "repetition", *FUZZ.ADVERSARIAL])
def test_parse_work_stays_linear_from_1kb_to_256kb(family, monkeypatch):
    # Regex work counted, not timed (the timings are benchmarks/fuzz_parse.py's): at most PER_CHAR per input
    # character plus a constant per text (at most max_candidates phrases, each resolved over at most
    # max_answer_chars), so 16x the text costs at most about 16x the work; a quadratic parser's would grow 256x.
    import random

    work = count_regex_work(monkeypatch)
    chars = {}
    for size in (1_000, 16_000, 256_000):
        for key in ("mc4", "int"):
            text = FUZZ.build_sized(family, random.Random(f"scale:7:{family}:{size}:{key}:0"), size, ITEMS[key])
            work["chars"] = 0
            parse_response(text, ITEMS[key])
            chars[size, key] = work["chars"]
            assert work["chars"] <= PER_CHAR * len(text) + PER_TEXT, (size, key, work)
    for key in ("mc4", "int"):
        assert chars[256_000, key] <= 2 * 16 * chars[16_000, key] + PER_TEXT, chars


PER_CHAR = 24
"""Regex characters per input character: each pass over a span (the tag scan, the think split, a dozen cleaning
passes over an answer span of at most scan_chars) costs one per character."""


PER_TEXT = 600_000
"""Regex characters a text may cost beyond 16 per character: 2 x 64 phrases, each resolved over <= 300 characters
by about a dozen patterns (their number does not grow with the text)."""


def test_cases_are_reproducible_from_their_index_in_another_process(fuzzer):
    code = ("import importlib.util, hashlib, sys; "
            f"s = importlib.util.spec_from_file_location('f', {str(FUZZ_PATH)!r}); "
            "m = importlib.util.module_from_spec(s); sys.modules['f'] = m; s.loader.exec_module(m); "
            "print(hashlib.sha256(''.join(m.make_case(3, i).text for i in range(300)).encode('utf-8', 'surrogatepass'))"
            ".hexdigest())")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                           env={**os.environ, "PYTHONHASHSEED": "99"}, check=True)
    here = "".join(fuzzer.make_case(3, i).text for i in range(300)).encode("utf-8", "surrogatepass")
    assert child.stdout.strip() == hashlib.sha256(here).hexdigest()


# ------------------------------------------------------------------------------- found by the full fuzz run
# Before the fix, a tag was not a boundary when phrases were scanned: blanks or a newline next to a tag changed the
# CoT conclusion or the answer (benchmarks/results/fuzz_parse.md; 31 of the first 5,000 cases).

MC4 = ITEMS["mc4"]


@pytest.mark.parametrize("tight, loose, expected", [
    # "Suppose …" after a tag starts a sentence: hypothetical, whatever the blanks (was: conclusion B only when tight)
    ("<think>So A.<answer>C</answer>Suppose the answer is B.</think><answer>C</answer>",
     "<think>So A.\n<answer>C</answer>\nSuppose the answer is B.\n</think><answer>C</answer>", ("C", "ok", "A")),
    # a phrase's capture ends at a tag (was: "NO </think>Wait." matched nothing when tight)
    ("<think>**Final Answer:** NO</think>Wait.</think><answer>Yes</answer>",
     "<think>**Final Answer:** NO \n </think>\tWait.        \n</think><answer>Yes</answer>", ("A", "ok", "B")),
    # a "### Answer" header right after <think>, indented by blanks (was: lost with 4+ blanks)
    ("<think>### Answer\nabout 41</think><answer>-41</answer>",
     "<think>\t\t\t\t### Answer\nabout 41\t</think>\r\n<answer>\t\t\t\t-41\t</answer>", ("-41", "ok", "41")),
    # "so (C)" then trailing blanks before </think> (was: the letter had to be followed by at most 3 blanks)
    ("<think>so (C)</think><answer>C</answer>", "<think>so (C)        </think><answer>C</answer>", ("C", "ok", "C")),
])
def test_blanks_next_to_a_tag_do_not_change_the_parse(tight, loose, expected):
    item = ITEMS["mc2"] if "Yes" in tight else ITEMS["int"] if "41" in tight else MC4
    for text in (tight, loose):
        parsed = parse_response(text, item)
        assert (parsed.answer, parsed.status, parsed.cot_conclusion) == expected, text


def test_the_stored_cot_keeps_its_blanks():
    # only the scan ignores blanks next to tags; the CoT itself (and so prefill_chars) is the text as written
    assert parse_response("<think>  so (C)  </think><answer>C</answer>", MC4).cot == "  so (C)  "


# ------------------------------------------------------------------------------------------------- properties

WS = st.sampled_from(FUZZ.WS)
TAGS = ["<think>", "</think>", "<answer>", "</answer>", "< think >", "</ answer>", "<ANSWER>"]
PIECES = ["so the answer is (C).", "Answer: B", "### Answer\nD", "Suppose the answer is A.", "I choose (b)", "dog",
          "\\boxed{A}", "\\boxed{\\text{(D)}", "A or B", "41", "x = 41", "Hmm.", "**Final Answer:** fish", "Z",
          "For example, the answer is (B).", "so (C)", "the answer is", "中文", "", "(A) cat (B) dog"]


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.tuples(st.sampled_from(TAGS), st.sampled_from(PIECES)), min_size=1, max_size=8),
       blanks=st.lists(st.tuples(WS, WS), min_size=8, max_size=8), item_key=st.sampled_from(sorted(ITEMS)))
def test_blanks_around_any_tags_in_any_order_do_not_change_answer_status_or_conclusion(pieces, blanks, item_key):
    # missing, doubled, nested and unbalanced tags included: the structure is whatever the draw gives
    item = ITEMS[item_key]
    tight = "".join(tag + text for tag, text in pieces)
    loose = "".join(before + tag + after + text for (tag, text), (before, after) in zip(pieces, blanks))
    a, b = parse_response(tight, item), parse_response(loose, item)
    assert (a.answer, a.status, a.cot_conclusion) == (b.answer, b.status, b.cot_conclusion)


ANY_CHAR = st.one_of(st.characters(exclude_categories=()),  # every category, controls included
                     st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=()),  # surrogates
                     st.sampled_from(list("<>/() {}\\\nABCDabthinkanswer")))  # the format's own characters


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=ANY_CHAR, max_size=600),
       item_key=st.sampled_from(sorted(ITEMS)))
def test_any_unicode_including_lone_surrogates_parses_and_scores_without_raising(text, item_key):
    item = ITEMS[item_key]
    parsed = parse_response(text, item)
    assert FUZZ.well_formed(parsed, item) is None
    is_correct(parsed, item)
    answers_match(parsed.cot_conclusion, parsed.answer, item)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 26), letters=st.lists(st.sampled_from(LETTERS), min_size=1, max_size=40),
       sep=st.sampled_from(FUZZ.SEPARATORS), wrap=st.sampled_from(["<answer>{}</answer>", "the answer is {}", "{}"]))
def test_many_letters_give_one_letter_of_the_item_or_unparsed(n, letters, sep, wrap):
    item = Item("fuzz", "many", "q?", options=tuple(f"choice {i}" for i in range(n)), answer="choice 0")
    parsed = parse_response(wrap.format(sep.join(letters)), item)
    assert FUZZ.well_formed(parsed, item) is None
    if parsed.status == "ok" and sep.strip(" ") in (",", "or", "/", "and", "&", ";") and len(set(letters)) > 1:
        pytest.fail(f"{sep.join(letters)!r} names several letters but parsed as {parsed.answer!r}")
