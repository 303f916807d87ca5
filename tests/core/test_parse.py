"""Parsing of model turns (PROTOCOL.md §3): think block, final answer, CoT conclusion, equality."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import LETTERS, Item, Parsed
from lmms_robust.core.parse import (
    DEFAULT_CONFIG,
    ParseConfig,
    answers_match,
    cot_conclusion,
    extract_answer,
    is_correct,
    parse_response,
    split_think,
    values_equal,
)


def mc(options, answer, **kw):
    return Item(benchmark="t", item_id="1", question="q?", options=tuple(options), answer=answer, **kw)


def ff(answer, answer_type="integer", **kw):
    return Item(benchmark="t", item_id="1", question="q?", answer=answer, answer_type=answer_type, **kw)


ITEMS = {
    "mc4": mc(("cat", "dog", "bird", "fish"), "dog"),
    "mc10": mc(tuple(f"option {i}" for i in range(10)), "option 1"),
    "dup": mc(("3", "5", "3", "7"), "3"),  # a repeated choice: gold letters A and C
    "deg": mc(("135°", "140°", "145°", "150°"), "145°"),
    "abstain": mc(("cat", "dog", "bird", "fish", "I'm not sure"), "dog"),
    "fuzzy": mc(("Tilapia", "Common water flea", "Great diving beetle", "Tadpole"), "Common water flea"),
    "twins": mc(("Does the snowboard slide faster with a thin layer of wax?",
                 "Does the snowboard slide faster with a thick layer of wax?"),
                "Does the snowboard slide faster with a thin layer of wax?"),
    "projects": mc(("No project would be incorrectly rejected; Project X would be incorrectly accepted.",
                    "No project would be incorrectly rejected; Project Z would be incorrectly accepted.",
                    "Project X would be incorrectly rejected; Project Z would be incorrectly accepted."),
                   "No project would be incorrectly rejected; Project Z would be incorrectly accepted."),
    "int": ff("41"),
    "float1": ff("1.2", "float", precision=1),
    "float2": ff("0.21", "float", precision=2),
    "years": ff("7", unit="years"),
    "list": ff("[2014, 2016]", "list"),
    "text": ff("Paris", "text"),
}

WRONG_PREFILL = ("<think>Let me look at the image carefully. What the figure shows matches bird, and none of the other "
                 "options fits it as well, so the answer is (C).")
STOP_PREFILL = "<think>Okay let's see. This should be the final answer.</think>"

# (response, item, answer, source or unparsed reason, cot_conclusion)
CASES = [
    # --- think blocks and the CoT's conclusion
    ("<think>The animal barks, so the answer is (B).</think><answer>B</answer>", "mc4", "B", "answer_tag", "B"),
    (STOP_PREFILL + "<answer>B</answer>", "mc4", "B", "answer_tag", None),
    (STOP_PREFILL + "\n<answer>C</answer>", "mc4", "C", "answer_tag", None),
    (WRONG_PREFILL + "</think><answer>C</answer>", "mc4", "C", "answer_tag", "C"),
    (WRONG_PREFILL + " But it barks, so the answer is (B).</think><answer>B</answer>", "mc4", "B", "answer_tag", "B"),
    (WRONG_PREFILL + " But the photo is blurry.</think><answer>B</answer>", "mc4", "B", "answer_tag", "C"),
    (WRONG_PREFILL + " But wait, the answer is A or B.</think><answer>B</answer>", "mc4", "B", "answer_tag", None),
    ("<think>Maybe the answer is (A), I guess <answer>D</answer>", "mc4", "D", "answer_tag", None),  # a hedge
    ("<think>so the answer is (C).", "mc4", None, "empty", "C"),
    ("so the answer is (A).</think><answer>A</answer>", "mc4", "A", "answer_tag", "A"),
    ("<think>the answer is B</think>", "mc4", None, "empty", "B"),
    ("<think>I would write <answer>A</answer> but no.</think>The answer is C.", "mc4", "C", "phrase", None),
    ("<think>a <think>b</think> so the answer is (D).</think><answer>D</answer>", "mc4", "D", "answer_tag", "D"),
    (STOP_PREFILL + " Hmm, the answer is (A).</think><answer>B</answer>", "mc4", "B", "answer_tag", "A"),
    ("<think>Let me think. A is a cat and B is a dog.</think><answer>A</answer>", "mc4", "A", "answer_tag", None),
    ("<think>I need to work out what the answer is. The ears are long.</think><answer>A</answer>", "mc4", "A",
     "answer_tag", None),
    ("<think>The answer is (C). But I am not sure what the answer is.</think><answer>C</answer>", "mc4", "C",
     "answer_tag", "C"),
    ("<think>Therefore, the answer should be dog.</think><answer>B</answer>", "mc4", "B", "answer_tag", "B"),
    ("<think>Thus option C is the best.</think><answer>C</answer>", "mc4", "C", "answer_tag", "C"),
    ("<think>I pick D</think><answer>D</answer>", "mc4", "D", "answer_tag", "D"),
    ("<think>The answer is (C). Checking again... Therefore, (A).</think><answer>A</answer>", "mc4", "A",
     "answer_tag", "A"),
    ("<think>So \\boxed{A}</think><answer>A</answer>", "mc4", "A", "answer_tag", "A"),
    ("<think>the answer is (E).</think><answer>A</answer>", "mc4", "A", "answer_tag", None),
    # --- the <answer> span
    ("<answer>(B)</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>B. dog</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>B) dog</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>\\boxed{B}</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>dog</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>Answer: B</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>b</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>a</answer>", "mc4", "A", "answer_tag", None),
    ("<answer>The answer is a dog.</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>Looking at the plot, the answer is C.</answer>", "mc4", "C", "answer_tag", None),
    ("<answer>A bar chart shows that the answer is D</answer>", "mc4", "D", "answer_tag", None),
    ("<answer>A is wrong, so the answer is B</answer>", "mc4", "B", "answer_tag", None),
    ("<answer>A or B</answer>", "mc4", None, "ambiguous", None),
    ("<answer>(A) and (C)</answer>", "mc4", None, "ambiguous", None),
    ("<answer>A. dog</answer>", "mc4", None, "ambiguous", None),
    ("<answer>E</answer>", "mc4", None, "letter_out_of_range", None),
    ("<answer> </answer>", "mc4", None, "empty", None),
    ("<answer></answer>", "mc4", None, "empty", None),
    ("<answer>A</answer> wait <answer>C</answer>", "mc4", "C", "answer_tag", None),
    ("<answer>B</answer><answer></answer>", "mc4", None, "empty", None),
    ("<answer>C", "mc4", "C", "answer_tag", None),
    ("<answer>the elephant</answer>", "mc4", None, "no_answer", None),
    ("<answer>I don't know</answer>", "mc4", None, "no_answer", None),
    ("<answer>I'm not sure</answer>", "abstain", "E", "answer_tag", None),
    ("<think>hmm</think>\n\n<answer>\n  B  \n</answer>\n", "mc4", "B", "answer_tag", None),
    ("<ANSWER>B</ANSWER>", "mc4", "B", "answer_tag", None),
    # --- fallbacks without an answer tag, in their fixed order
    ("The answer is \\boxed{C}.", "mc4", "C", "boxed", None),
    ("First \\boxed{C}. Answer: B", "mc4", "C", "boxed", None),
    ("Answer: B", "mc4", "B", "phrase", None),
    ("**Answer:** D", "mc10", "D", "phrase", None),
    ("**Answer: C**", "mc10", "C", "phrase", None),
    ("**Answer**: H", "mc10", "H", "phrase", None),
    ("Final Answer: **B**", "mc10", "B", "phrase", None),
    ("Answer: \\(E\\)", "mc10", "E", "phrase", None),
    ("Answer: \\( \\text{I} \\)", "mc10", "I", "phrase", None),
    ("Thus:\n\\[\n\\text{Answer: J}\n\\]", "mc10", "J", "phrase", None),
    ("\\boxed{\\text{Answer: } J}", "mc10", "J", "boxed", None),
    ("The correct option is (C).", "mc4", "C", "phrase", None),
    ("I choose C.", "mc4", "C", "phrase", None),
    ("Option (C) is correct.", "mc4", "C", "phrase", None),
    ("The answer is A because the ears are pointed.", "mc4", "A", "phrase", None),
    ("Answer: D and other rows can be checked.", "mc10", "D", "phrase", None),
    ("Answer: G (Stations A and B have local attraction)", "mc10", "G", "phrase", None),
    ("Answer: A. (D)", "mc10", "A", "phrase", None),
    ("Answer: A.\n\nIn a later step we could check B.", "mc10", "A", "phrase", None),
    ("Answer: There was an error. Please validate options.", "mc10", None, "no_answer", None),
    ("Answer: A, E", "mc10", None, "ambiguous", None),
    ("So, the answer is B (13) and C (26).", "mc10", None, "ambiguous", None),
    ("Answer: K", "mc10", None, "letter_out_of_range", None),
    ("The answer is a cat.", "mc4", "A", "phrase", None),
    ("The answer is definitely (B).", "mc4", "B", "phrase", None),
    ("The closest answer choice is D.", "mc10", "D", "phrase", None),
    ("### Answer\n\nB", "mc10", "B", "phrase", None),
    ("The answer is not (C).", "mc4", None, "no_answer", None),
    ("B", "mc4", "B", "letter", None),
    ("(B)", "mc4", "B", "letter", None),
    ("B.", "mc4", "B", "letter", None),
    ("$\\text{(B)}$", "mc4", "B", "letter", None),
    ("b", "mc4", "B", "letter", None),
    ("B) dog", "mc4", "B", "letter", None),
    ("B) cat", "mc4", None, "no_answer", None),
    ("dog", "mc4", "B", "option_text", None),
    ("Dog.", "mc4", "B", "option_text", None),
    ("Common water fleas", "fuzzy", "B", "option_text", None),
    ("common waterflea", "fuzzy", "B", "option_text", None),
    ("Does the snowboard slide faster with a layer of wax?", "twins", None, "ambiguous", None),
    ("Answer: B. No project would be incorrectly rejected; Project Z would be incorrectly accepted.", "projects",
     "B", "phrase", None),
    ("I think it is a cat.", "mc4", None, "no_answer", None),
    ("A bar chart is shown with several bars of different heights.", "mc4", None, "no_answer", None),
    ("", "mc4", None, "empty", None),
    ("   \n", "mc4", None, "empty", None),
    ("<think>only thinking</think>", "mc4", None, "empty", None),
    # --- repeated choices and numeric options
    ("<answer>C</answer>", "dup", "C", "answer_tag", None),
    ("<answer>3</answer>", "dup", "A", "answer_tag", None),
    ("<answer>145</answer>", "deg", "C", "answer_tag", None),
    ("<answer>145.0°</answer>", "deg", "C", "answer_tag", None),
    ("<answer>146</answer>", "deg", None, "no_answer", None),
    # --- free-form
    ("<answer>41</answer>", "int", "41", "answer_tag", None),
    ("<answer>42 cm</answer>", "int", "42 cm", "answer_tag", None),
    ("<answer>\\boxed{41}.</answer>", "int", "41", "answer_tag", None),
    ("<answer>$41$</answer>", "int", "41", "answer_tag", None),
    ("<answer>forty-one</answer>", "int", None, "not_a_number", None),
    ("The answer is 41.", "int", "41", "phrase", None),
    ("So \\boxed{41}", "int", "41", "boxed", None),
    ("41", "int", "41", "value", None),
    ("<think>Counting gives 40, so the answer is 41. But let me recount: 43 apples.</think><answer>43</answer>",
     "int", "43", "answer_tag", "41"),
    ("<think>The totals are 12 and then 15.</think><answer>15</answer>", "int", "15", "answer_tag", None),
    ("<think>The answer is approximately 41.5 cm, I think.</think><answer>41.5</answer>", "float1", "41.5",
     "answer_tag", "41.5 cm"),
    ("<answer>7 years</answer>", "years", "7 years", "answer_tag", None),
    ("<answer>[2014, 2016]</answer>", "list", "[2014, 2016]", "answer_tag", None),
    ("<answer>paris.</answer>", "text", "paris", "answer_tag", None),
    ("The answer is -4.3.", "float1", "-4.3", "phrase", None),
    ("Without data we cannot say. For example, if the bar is 5, the answer would be 5.", "int", None, "no_answer",
     None),
    (("<think>Suppose the answer is (A); then the ears would be long. They are short, so the answer is (B)."
      "</think><answer>B</answer>"), "mc4", "B", "answer_tag", "B"),
    ("<think>So the answer is (B). For example, if it were a cat the answer would be (A).</think><answer>B</answer>",
     "mc4", "B", "answer_tag", "B"),
    ("<think>The answer is that most people prefer racing.</think><answer>97</answer>", "int", "97", "answer_tag",
     None),
]


@pytest.mark.parametrize(("response", "item_key", "answer", "source_or_reason", "conclusion"), CASES,
                         ids=[f"{i}:{c[0][:40]}" for i, c in enumerate(CASES)])
def test_parse_response_case_table(response, item_key, answer, source_or_reason, conclusion):
    parsed = parse_response(response, ITEMS[item_key])
    assert parsed.answer == answer
    if answer is None:
        assert (parsed.status, parsed.source, parsed.reason) == ("unparsed", None, source_or_reason)
    else:
        assert (parsed.status, parsed.source, parsed.reason) == ("ok", source_or_reason, None)
    assert parsed.cot_conclusion == conclusion


@pytest.mark.parametrize(("response", "item_key", "correct"), [
    ("<answer>B</answer>", "mc4", True),
    ("<answer>A</answer>", "mc4", False),
    ("<answer>A</answer>", "dup", True),
    ("<answer>C</answer>", "dup", True),
    ("<answer>B</answer>", "dup", False),
    ("<answer>E</answer>", "abstain", False),
    ("<answer>A or B</answer>", "mc4", False),
    ("<answer>41</answer>", "int", True),
    ("<answer>41.0</answer>", "int", True),
    ("<answer>42 cm</answer>", "int", False),
    ("<answer>1.23</answer>", "float1", True),
    ("<answer>1.15</answer>", "float1", True),  # half-up: 1.15 -> 1.2
    ("<answer>1.25</answer>", "float1", False),
    ("<answer>0.214</answer>", "float2", True),
    ("<answer>\\frac{21}{100}</answer>", "float2", True),
    ("<answer>7 years</answer>", "years", True),
    ("<answer>[2014, 2016]</answer>", "list", True),
    ("<answer>paris.</answer>", "text", True),
    ("<answer>London</answer>", "text", False),
])
def test_is_correct_uses_gold_letters_and_free_form_equality(response, item_key, correct):
    assert is_correct(parse_response(response, ITEMS[item_key]), ITEMS[item_key]) is correct


def test_is_correct_is_false_for_unparsed_even_if_answer_field_is_set():
    parsed = Parsed(cot=None, answer="B", status="unparsed", reason="ambiguous")
    assert not is_correct(parsed, ITEMS["mc4"])


@pytest.mark.parametrize(("a", "b", "item_key", "equal"), [
    ("41", "41.0", "int", True),
    ("42", "41", "int", False),
    ("1,041", "1041", "int", True),
    ("x = 41", "41", "int", True),
    ("$41$", "41", "int", True),
    ("41 apples", "41", "int", True),
    ("1.23", "1.2", "float1", True),
    ("1.26", "1.2", "float1", False),
    ("\\frac{1}{2}", "0.5", "float1", True),
    ("2\\pi", "6.28", "float2", True),
    ("7 years", "7", "years", True),
    ("8 years", "7", "years", False),
    ("cat", "act", "text", False),  # never a*c*t == a*c*t
    ("PARIS", "paris", "text", True),
    ("[2014, 2016]", "[2014,2016]", "list", True),
    ("[0, 2, 0, 7]", "[0, 2, 0, 7]", "list", True),
    ("[0, 2, 7]", "[0, 2, 0, 7]", "list", False),  # a list, not a set
    ("[2, 0, 0, 7]", "[0, 2, 0, 7]", "list", False),
    ("−4.3", "-4.3", "float1", True),
    ("", "41", "int", False),
])
def test_values_equal(a, b, item_key, equal):
    assert values_equal(a, b, ITEMS[item_key]) is equal


def test_answers_match_compares_option_text_not_letters():
    assert answers_match("A", "C", ITEMS["dup"])
    assert not answers_match("A", "B", ITEMS["dup"])
    assert answers_match("B", "B", ITEMS["mc4"])
    assert not answers_match(None, "B", ITEMS["mc4"])
    assert not answers_match("B", None, ITEMS["mc4"])
    assert answers_match("41", "41.0", ITEMS["int"])
    assert not answers_match("41", "43", ITEMS["int"])


def test_split_think_shapes():
    assert split_think("no tags here") == (None, "no tags here")
    assert split_think("<think>r</think>after") == ("r", "after")
    assert split_think("<think>r <answer>x</answer> more <answer>B</answer>") == (
        "r <answer>x</answer> more ", "<answer>B</answer>")
    assert split_think("<think>all open") == ("all open", "")
    assert split_think("lost prefix</think><answer>A</answer>") == ("lost prefix", "<answer>A</answer>")
    assert split_think("<think></think><answer>A</answer>") == ("", "<answer>A</answer>")


def test_extract_answer_only_reads_text_after_think():
    assert extract_answer("Answer: B", ITEMS["mc4"]) == ("B", "phrase", None)
    parsed = parse_response("<think>Answer: B</think>", ITEMS["mc4"])
    assert (parsed.answer, parsed.reason, parsed.cot_conclusion) == (None, "empty", "B")


def test_cot_conclusion_ignores_bare_letters_and_numbers_in_passing():
    assert cot_conclusion("A is a cat, B is a dog, C is a bird.", ITEMS["mc4"]) is None
    assert cot_conclusion("We count 3, then 5, then 41 in total.", ITEMS["int"]) is None
    assert cot_conclusion("so the answer is 41.", ITEMS["int"]) == "41"
    assert cot_conclusion("", ITEMS["mc4"]) is None


def test_config_threshold_is_used():
    strict = ParseConfig(option_match_threshold=99.0)
    assert parse_response("Common water fleas", ITEMS["fuzzy"]).answer == "B"
    assert parse_response("Common water fleas", ITEMS["fuzzy"], strict).answer is None
    assert DEFAULT_CONFIG.option_match_threshold == 90.0


def test_parse_module_imports_neither_torch_nor_lmms_eval():
    code = ("import sys, lmms_robust.core.parse; "
            "print(sorted(m for m in ('torch', 'lmms_eval', 'math_verify') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # math-verify is imported lazily, only to compare free-form values


# ----------------------------------------------------------------------------------------- properties

TOKENS = ["<think>", "</think>", "<answer>", "</answer>", "< answer >", "\\boxed{", "{", "}", "Answer:", "answer is",
          "the answer is", "so", "Therefore,", "(", ")", "A", "B", "b", "a", "Z", " ", "\n", "$", "**", "41", "1,000",
          ".", ",", "or", "I choose", "option", "is correct", "dog", "\\text{", "\\(", "\\)", "=", "^", "é", "中",
          "\x00", "For example,", "### Answer"]


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.text(max_size=400), st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)),
       item_key=st.sampled_from(sorted(ITEMS)))
def test_never_raises_and_answers_are_well_formed(text, item_key):
    item = ITEMS[item_key]
    parsed = parse_response(text, item)
    assert parsed.status in ("ok", "unparsed")
    assert (parsed.answer is None) == (parsed.status == "unparsed")
    if item.is_multiple_choice:
        assert parsed.answer is None or parsed.answer in item.letters
        assert parsed.cot_conclusion is None or parsed.cot_conclusion in item.letters
    else:
        assert parsed.answer is None or parsed.answer.strip()
    is_correct(parsed, item)
    answers_match(parsed.cot_conclusion, parsed.answer, item)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(2, 8), data=st.data())
def test_answer_tag_round_trips_every_letter(n, data):
    item = mc(tuple(f"choice number {i}" for i in range(n)), "choice number 0")
    letter = data.draw(st.sampled_from(LETTERS[:n]))
    think = data.draw(st.sampled_from(["", "<think>Let me compare the options.</think>", STOP_PREFILL]))
    parsed = parse_response(f"{think}<answer>{letter}</answer>", item)
    assert (parsed.answer, parsed.status, parsed.source) == (letter, "ok", "answer_tag")


WS = st.sampled_from(["", " ", "\n", "\n\n", "\t", "  \n "])


@settings(max_examples=200, deadline=None)
@given(w=st.lists(WS, min_size=7, max_size=7),
       cot=st.sampled_from(["so the answer is (C).", "I pick D", "Okay let's see. This should be the final answer.",
                            "The answer is (C). But wait, the dog barks, so the answer is (B)."]),
       answer=st.sampled_from(["B", "(B)", "dog", "A or B", "", "E", "\\boxed{C}", "Answer: D"]))
def test_whitespace_around_tags_does_not_change_the_result(w, cot, answer):
    item = ITEMS["mc4"]
    tight = parse_response(f"<think>{cot}</think><answer>{answer}</answer>", item)
    loose = parse_response(f"{w[0]}<think>{w[1]}{cot}{w[2]}</think>{w[3]}<answer>{w[4]}{answer}{w[5]}</answer>{w[6]}",
                           item)
    assert (loose.answer, loose.status, loose.source, loose.reason, loose.cot_conclusion) == (
        tight.answer, tight.status, tight.source, tight.reason, tight.cot_conclusion)
    assert loose.cot.strip() == tight.cot.strip()


MEGA = 1_000_000
ADVERSARIAL = [
    "<think>" * (MEGA // 7),
    "</think>" * (MEGA // 8),
    "<answer>" * (MEGA // 8),
    "<think>" + "the answer is " * (MEGA // 14),
    "Answer: " * (MEGA // 8),
    "\\boxed{" * (MEGA // 7),
    "\\boxed{" + "{" * MEGA,
    "(" * MEGA,
    "A " * (MEGA // 2),
    "so (C). " * (MEGA // 8),
    "1," * (MEGA // 2),
    "<answer>" + "B. dog " * (MEGA // 7),
    "<answer>" + "A or " * (MEGA // 5),
    "$" * MEGA,
    "<" + " " * MEGA,
    "\\text{" * (MEGA // 6) + "}" * (MEGA // 6),
    "<answer>" + "(" * MEGA,
    "<answer>x" + ")" * MEGA,
    "<answer>" + "}" * MEGA,
    "<answer>" + "**" * (MEGA // 2),
    "Answer: (" + "A" * MEGA,
    "<answer>" + "\\boxed{" * (MEGA // 7),
    "<think>" + "a " * (MEGA // 2) + "</think><answer>" + "B or " * (MEGA // 5),
]


@pytest.mark.parametrize("index", range(len(ADVERSARIAL)))
@pytest.mark.parametrize("item_key", ["mc10", "int"])
def test_one_megabyte_adversarial_input_parses_fast(index, item_key):
    started = time.perf_counter()
    parsed = parse_response(ADVERSARIAL[index], ITEMS[item_key])
    assert time.perf_counter() - started < 1.0
    assert parsed.status in ("ok", "unparsed")
