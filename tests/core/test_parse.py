"""Parsing of model turns (PROTOCOL.md §3): think block, final answer, CoT conclusion, equality."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import LETTERS, Item, Parsed
from tests.regex_work import count_regex_work
from lmms_robust.core.parse import (
    DEFAULT_CONFIG,
    Conclusion,
    ParseConfig,
    answers_match,
    cot_conclusion,
    extract_answer,
    is_correct,
    parse_response,
    read_conclusion,
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
    # a list of any length names several letters (a 25-separator cap once read this one as A)
    ("<answer>" + "A, " * 26 + "B</answer>", "mc4", None, "ambiguous", None),
    ("The answer is A, B because both fit.", "mc4", None, "ambiguous", None),
    ("<answer>A, A, A</answer>", "mc4", "A", "answer_tag", None),
    # a phrase's line cut by max_answer_chars (300): a list that may go on past the cut is not read as whole
    ("The answer is " + "A, " * 120 + "B", "mc4", None, "ambiguous", None),
    ("The answer is B because " + "x" * 400, "mc4", "B", "phrase", None),
    # a letter then a word that starts with a capital is no list (MathVista LLaVA-13B, pids 124 and 821)
    ("The correct option is D, Fish.", "mc4", "D", "phrase", None),
    ("The correct answer is A, Cat. Most of the animals are cats.", "mc4", "A", "phrase", None),
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


ADVERSARIAL += [
    "<think>" + "The dog is not a cat. " * (MEGA // 22),
    "<think>" + "option A is the best, " * (MEGA // 22),
    "<think>" + "x = " * (MEGA // 4),
    "<think>" + "answer>" * (MEGA // 7) + "</answer>",
    "</answer>" * (MEGA // 9),
    "<think>so (C)" + " " * MEGA + "</think>",
]


@pytest.mark.parametrize("index", range(len(ADVERSARIAL)))
@pytest.mark.parametrize("item_key", ["mc10", "int", "mc4"])
def test_one_megabyte_adversarial_input_costs_linear_regex_work(index, item_key, monkeypatch):
    # Linear time, as operation counts (no clock): the regexes are offered a bounded multiple of the text (each is
    # bounded-quantifier, so its work per offered character is bounded), a bounded number of times, and at most
    # max_candidates phrases (plus those of the final conclusion_chars) are resolved. The timings are in
    # benchmarks/results/fuzz_parse.md.
    regex_work = count_regex_work(monkeypatch)
    text = ADVERSARIAL[index]
    parsed = parse_response(text, ITEMS[item_key])
    assert parsed.status in ("ok", "unparsed")
    assert regex_work["chars"] <= 24 * len(text) + 600_000, regex_work
    assert regex_work["calls"] <= len(text) // 40 + 2_000, regex_work
    assert regex_work["candidates"] <= 3 * DEFAULT_CONFIG.max_candidates, regex_work  # answer, final part, rest


# ------------------------------------------------------------------ the CoT's conclusion, by phrasing family

ANIMALS = mc(("cat", "dog", "bird", "fish"), "dog")
TRANSPORT = mc(("car", "plane", "hotair balloon", "bike"), "hotair balloon")
SPATIAL = mc(("to the left of the chair", "to the right of the chair", "behind the chair", "in front of the chair"),
             "behind the chair")
LEFT_RIGHT = mc(("left", "right"), "left")
YES_NO = mc(("Yes", "No"), "Yes")
STEAK = mc(("well", "medium-well", "medium", "rare"), "rare")
COUNT_WORDS = mc(("one", "three", "two", "four"), "two")
COLORS = mc(("The color of the car is red.", "The color of the car is blue.", "The color of the car is white."),
            "The color of the car is red.")
MORE_FEWER = mc(("There are more apples than oranges.", "There are fewer apples than oranges."),
                "There are more apples than oranges.")
COUNTING = ff("4")
ANGLE = ff("70", "float")

# (family, CoT, item, conclusion): each expectation read by hand
COT_CASES = [
    # explicit letter commitments in the phrasings people write
    ("letter", "So the answer is B.", ANIMALS, "B"),
    ("letter", "B is the correct answer.", ANIMALS, "B"),
    ("letter", "That would correspond to option B.", ANIMALS, "B"),
    ("letter", "It barks, which corresponds to (B).", ANIMALS, "B"),
    ("letter", "The most fitting answer appears to be A.", ANIMALS, "A"),
    ("letter", "Therefore, I'll go with C.", ANIMALS, "C"),
    ("letter", "Option D is correct.", ANIMALS, "D"),
    ("letter", "option B, the dog, is the best fit.", ANIMALS, "B"),
    ("letter", "It is clear that the option B, dog, is safest.", ANIMALS, "B"),
    ("letter", "Option A: cat is typically found in such a room.", ANIMALS, "A"),
    ("letter", "The correct answer is B, not A.", ANIMALS, "B"),
    ("letter", "I'm not sure at first, but the answer is B.", ANIMALS, "B"),
    ("letter", "The answer is probably B.", ANIMALS, "B"),
    ("letter", "I am not sure, so the answer is (E).", ITEMS["abstain"], "E"),  # the doubt is the reason, E abstains
    ("letter", "The answer is (E) I'm not sure.", ITEMS["abstain"], "E"),
    ("letter", "Hence the correct answer would be BB: dog", ANIMALS, "B"),
    ("letter", "选项C最符合题意。", ANIMALS, "C"),
    ("letter", "答案是B", ANIMALS, "B"),
    ("letter", "所以选D。", ANIMALS, "D"),
    ("letter", "So \\boxed{C}.", ANIMALS, "C"),
    ("letter", "the C is an answer[answer]B", ANIMALS, "B"),
    # ... and what is no commitment
    ("not a letter", "Option C is wrong.", ANIMALS, None),
    ("not a letter", "This does not correspond to option B.", ANIMALS, None),
    ("not a letter", "选项C不正确。", ANIMALS, None),
    ("not a letter", "Option A is a cat.", ANIMALS, None),  # restating an option
    ("not a letter", "A is a cat. B is a dog.", ANIMALS, None),
    ("not a letter", "option B, the cat, is the best fit.", ANIMALS, None),  # B is not the cat
    ("not a letter", "Let me compare A and B. A", ANIMALS, None),  # a bare letter never counts
    ("not a letter", "The answer is (E).", ANIMALS, None),  # no such letter
    # an option's content
    ("content", "This is a dog.", ANIMALS, "B"),
    ("content", "The animal is clearly a dog, not a cat.", ANIMALS, "B"),
    ("content", "The animal looks like a dog rather than a cat.", ANIMALS, "B"),
    ("content", "The animal looks like a dog. It has short ears.", ANIMALS, "B"),
    ("content", "The transport visible here is a hot air balloon.", TRANSPORT, "C"),
    ("content", "It is larger than a car and is easily seen as a hot air balloon.", TRANSPORT, "C"),
    ("content", "The steak is cooked medium-well.", STEAK, "B"),  # medium-well, not medium
    ("content", "It is rare inside.", STEAK, "D"),
    ("content", "There are two chairs for each umbrella.", COUNT_WORDS, "C"),
    ("content", "The car appears to be red.", COLORS, "A"),  # one frame: the attribute names the option
    ("content", "There are fewer apples than oranges.", MORE_FEWER, "B"),
    ("content", "So, yes.", YES_NO, "A"),
    ("content", "No, there is no dog in the picture.", YES_NO, "B"),
    # the spatial-word guard: meaning-flipping words must agree
    ("spatial", "The cup is to the left of the chair.", SPATIAL, "A"),
    ("spatial", "The cup is to the right of the chair.", SPATIAL, "B"),
    ("spatial", "The cup is not to the left of the chair; it is to the right of the chair.", SPATIAL, "B"),
    ("spatial", "The cup is in front of the chair, not behind it.", SPATIAL, "D"),
    ("spatial", "It is on the left, not the right.", LEFT_RIGHT, "A"),
    ("spatial", "The mug is on the right side of the table.", LEFT_RIGHT, "B"),
    ("spatial", "The cup is to the left of the table.", SPATIAL, None),  # the table is no option's chair
    ("spatial", "There are more oranges than apples.", MORE_FEWER, None),  # no option says this
    # two options, lists, negations, hedges, hypotheticals, questions: no conclusion
    ("none", "It is either a cat or a dog.", ANIMALS, None),
    ("none", "The image shows a cat and a dog.", ANIMALS, None),
    ("none", "The options are cat, dog, bird and fish.", ANIMALS, None),
    ("none", "A: cat\nB: dog\nC: bird\nD: fish", ANIMALS, None),
    ("none", "It is not a dog.", ANIMALS, None),
    ("none", "The animal is bigger than a cat.", ANIMALS, None),
    ("none", "The steak is medium-rare.", STEAK, None),  # two options' words, and no option
    ("none", "I see a car and a bike.", TRANSPORT, None),
    ("none", "Maybe it is a dog.", ANIMALS, None),
    ("none", "Maybe the answer is B.", ANIMALS, None),
    ("none", "It is a dog. Hmm, perhaps it is a cat.", ANIMALS, None),  # the last statement hedges
    ("none", "It could be A or maybe B.", ANIMALS, None),
    ("none", "The answer is A or B.", ANIMALS, None),
    ("none", "Suppose the answer is B; then the ears would be long.", ANIMALS, None),
    ("none", "If it were a cat, the answer would be A.", ANIMALS, None),
    ("none", "Is it a dog?", ANIMALS, None),
    ("none", "Left or right? Hard to say.", LEFT_RIGHT, None),
    ("none", "One of the chairs is red.", COUNT_WORDS, None),  # "one" in passing
    ("none", "Looking at it, it is (C) or (D).", ANIMALS, None),  # two letters
    ("none", "We can rule out the cat.", ANIMALS, None),
    ("none", "It is unlikely to be a fish.", ANIMALS, None),
    ("none", "The question asks whether the dog is on the sofa.", ANIMALS, None),  # the task, not a finding
    ("none", "Let me check whether it is a dog.", ANIMALS, None),
    ("content", "We can eliminate the cat, so it must be a dog.", ANIMALS, "B"),
    ("none", "If the bars are equal, the answer is B.", ANIMALS, None),  # the CoT's own condition
    ("letter", "If the prey decreases, the predators will decrease, so the answer is (C).",
     Item(benchmark="t", item_id="1", question="If the prey decreases, what will the predators do?",
          options=("increase", "stay", "decrease"), answer="decrease"),
     "C"),  # the condition the question itself poses
    # free-form: the value a concluding statement gives
    ("value", "Therefore, angle ACB = 180° − 110° = 70°.", ANGLE, "70°"),
    ("value", "Since angle B = 70.0, then angle CAO = 90.0 - 70.0 = 20.0.", ANGLE, "20.0"),
    ("value", "Therefore, AB = 4.0 + 7.0 = 11.0. Therefore, the length of AB is 11.2.", ANGLE, "11.2"),
    ("value", "The area is approximately 2.513 square meters.", ANGLE, "2.513 square meters"),
    ("value", "There are four distinct objects: a bus, a bike, a jet and a car.", COUNTING, "4"),
    ("value", "So the answer is 4.", COUNTING, "4"),
    ("value", "The answer is four.", COUNTING, "4"),
    ("value", "Let x = 5. Then y = 2x = 10.", ANGLE, "10"),
    ("value", "Solving for AB, we get AB = 12.", ANGLE, "12"),
    # ... and what states no value
    ("no value", "Since AB = 5, we need to find BC.", ANGLE, None),  # a premise
    ("no value", "We have AB = 5 and BC = 7.", ANGLE, None),  # two equations
    ("no value", "There are 3 red circles and 12 squares.", COUNTING, None),  # two counts
    ("no value", "The totals are 12 and then 15.", COUNTING, None),
    ("no value", "I think it's about 4 or 5.", COUNTING, None),
    ("no value", "Maybe there are 4.", COUNTING, None),
    ("no value", "If AB were 5, then BC would be 10.", ANGLE, None),
    ("no value", "A. 4\nB. 5\nC. 6", COUNTING, None),  # an echo of lettered options
    ("no value", "Therefore, OD = 6 * 0(30°) = 6 * 0(30°) = 6 * 0(30°) = 6 *", ANGLE, None),  # a loop
    ("no value", "If ∠D = 55.0, then ∠BCE = 55°.", ANGLE, None),  # a condition
    ("no value", "The first model is 95% accurate, while the second is 40% accurate.", ANGLE, None),
    ("no value", "Squaring gives 9(25 - BC^2) = 125, simplifying gives 225 - 9BC^2", ANGLE, None),  # goes on
    ("value", "The ratio is 1.45/1.23, which is approximately 1.17.", ANGLE, "1.17"),
    ("value", "Karen spent a total of $11.25 on silk scraps.", ANGLE, "11.25"),
    ("value", "The difference is 7.8% (11.2% - 3.4%).", ANGLE, "7.8%"),
    ("content", "Since ∠AOD = 70°, then ∠BOE = 180° - 70° = 110°.", mc(("70°", "110°", "140°"), "110°"), "B"),
    ("none", "The relationship between x and k is unclear from the figure.", mc(("60-k", "k", "60+k"), "k"), None),
    ("none", "Cross-multiplying gives BC = 9 / 2 + 1.", mc(("\\frac{21}{2}", "\\frac{9}{2}"), "\\frac{9}{2}"), None),
]


@pytest.mark.parametrize(("family", "cot", "item", "expected"), COT_CASES,
                         ids=[f"{c[0]}:{c[1][:40]}" for c in COT_CASES])
def test_cot_conclusion_by_phrasing_family(family, cot, item, expected):
    assert cot_conclusion(cot, item) == expected


def test_read_conclusion_says_how_and_where():
    found = read_conclusion("The toy is a kite. Kites need wind to fly.", mc(("manual", "wind", "directions"), "wind"))
    assert found == Conclusion("B", "content", "Kites need wind to fly.")
    assert read_conclusion("It is a cat or a dog.", ANIMALS).how == "two_options"
    assert read_conclusion("Perhaps a dog.", ANIMALS).how == "hedge"
    assert read_conclusion("", ANIMALS) == Conclusion(None, None)


def test_explicit_commitments_beyond_the_final_part_still_count():
    # the final conclusion_chars are read for content; before them only explicit phrases count
    filler = " The fur is short and the ears are pointed." * 100
    assert cot_conclusion("So the answer is (B)." + filler, ANIMALS) == "B"
    assert cot_conclusion("It is a dog." + filler, ANIMALS) is None  # content that far back is a description


# -------------------------------------------------------------------------- answers: gaps seen in real outputs

@pytest.mark.parametrize(("response", "item", "answer", "source_or_reason"), [
    ("<answer>B</answer><think>It barks.</think>", ANIMALS, "B", "answer_tag"),  # an answer before the think block
    ("<answer>A</answer><think>x</think><answer>C</answer>", ANIMALS, "C", "answer_tag"),  # the last one wins
    ("<think>It barks.</think>\nanswer>B</answer>", ANIMALS, "B", "answer_tag"),  # "<" lost
    ("<think>The bridge crosses a canal\n\n addCriterion\nA</answer>", ANIMALS, "A", "answer_tag"),  # opening lost
    ("<think>x</think></answer>C", ANIMALS, "C", "answer_tag"),
    ("<think>x</think><answer>D\n addCriterion\n addCriterion", ANIMALS, "D", "answer_tag"),  # junk after it
    ("<think>x</think><answer>D\nanswer\nD", ANIMALS, "D", "answer_tag"),
    ("<think>x</think>\n<C>", ANIMALS, "C", "letter"),
    ("<answer><C></answer>", ANIMALS, "C", "answer_tag"),
    ("**Answer:** There are 3 objects remaining.", ff("3"), "3", "phrase"),
    ("<answer>There are 3 objects remaining.</answer>", ff("3"), "3", "answer_tag"),
    ("<answer>There are 3 cubes and 2 balls.</answer>", ff("3"), None, "not_a_number"),  # which one? unparsed
    ("\\boxed{\\frac{\\sqrt{3}}{3}} (Option C)", mc(("1", "2", "√3/3", "3"), "√3/3"), "C", "boxed"),
    ("<answer>\\boxed{\\frac{\\sqrt{3}}{3}} (Option C)</answer>", mc(("1", "2", "√3/3", "3"), "√3/3"), "C",
     "answer_tag"),
    ("<answer>\\boxed{7} (Option C)</answer>", mc(("5", "6", "7", "8"), "7"), "C", "answer_tag"),
    ("<answer>\\boxed{5} (Option C)</answer>", mc(("5", "6", "7", "8"), "7"), "A", "answer_tag"),  # boxed names A
    ("<answer>A or B\n junk", ANIMALS, None, "ambiguous"),
])
def test_malformed_but_readable_answers(response, item, answer, source_or_reason):
    parsed = parse_response(response, item)
    assert parsed.answer == answer
    assert (parsed.source if answer is not None else parsed.reason) == source_or_reason


@pytest.mark.parametrize("blanks", [64, 65, 200, 10_000])
def test_any_number_of_blanks_beside_a_tag_changes_nothing(blanks):
    gap = " " * (blanks // 2) + "\n" * (blanks - blanks // 2)
    tight = parse_response("<think>so (C)</think><answer>C</answer>", ANIMALS)
    loose = parse_response(f"{gap}<think>{gap}so (C){gap}</think>{gap}<answer>{gap}C{gap}</answer>{gap}", ANIMALS)
    assert (loose.answer, loose.cot_conclusion) == (tight.answer, tight.cot_conclusion) == ("C", "C")


# ------------------------------------------------------------------------------------------- properties

NEUTRAL = ["Let me look at the image.", "The picture is a bit blurry.", "It has four legs.", "Hmm, wait.",
           "Option C looks plausible, but", "A cat and a dog are shown.", "The answer is unclear so far.",
           "Suppose the answer is A.", "Maybe it is a bird.", "A: cat\nB: dog", "It is not a fish.",
           "For example, the answer is (A) if it meows.", "中文推理：先数一数。", "x = 3", "Is it a dog?"]
COMMITMENTS = ["So the answer is ({}).", "Therefore, the correct answer is {}.", "{} is the correct answer.",
               "That corresponds to option {}.", "Final answer: {}", "I choose {}.", "答案是{}", "\\boxed{{{}}}",
               "The most fitting answer appears to be {}."]


@settings(max_examples=300, deadline=None)
@given(prefix=st.lists(st.sampled_from(NEUTRAL), max_size=8), commitment=st.sampled_from(COMMITMENTS),
       letter=st.sampled_from("ABCD"), joiner=st.sampled_from([" ", "\n", "\n\n"]))
def test_a_clean_trailing_commitment_is_always_found(prefix, commitment, letter, joiner):
    cot = joiner.join([*prefix, commitment.format(letter)])
    assert cot_conclusion(cot, ANIMALS) == letter


HEDGES = ["Maybe.", "I'm not sure.", "Perhaps it is a dog.", "Hmm, possibly B.", "It is hard to say.",
          "I guess it could be a bird or a fish."]
STATEMENTS = ["It is a dog.", "The animal is not a cat.", "A cat and a dog are shown.", "The answer is B.",
              "Option C is wrong.", "Let me look again.", "The options are cat, dog, bird and fish.", "It barks.",
              "Suppose the answer is A.", "Is it a fish?", "It is a dog or a cat."]


@settings(max_examples=300, deadline=None)
@given(sentences=st.lists(st.sampled_from(STATEMENTS), max_size=6), hedge=st.sampled_from(HEDGES),
       where=st.integers(0, 6))
def test_adding_a_hedge_never_creates_a_conclusion(sentences, hedge, where):
    before = cot_conclusion(" ".join(sentences), ANIMALS)
    hedged = [*sentences[:where], hedge, *sentences[where:]]
    after = cot_conclusion(" ".join(hedged), ANIMALS)
    if before is None:
        assert after is None
    assert after in (None, before)  # a hedge withdraws a conclusion or leaves it; it never makes a new one
