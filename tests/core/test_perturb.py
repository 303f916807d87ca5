"""lmms_robust.core.perturb: variants, the wrong option/value, captions and prefills (PROTOCOL.md §2)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmms_robust.core.items import Item, ItemError
from lmms_robust.core.perturb import (
    VARIANT_NAMES,
    VARIANTS,
    Perturbation,
    PerturbConfig,
    TemplateGenerator,
    letter_mention,
    perturb,
    variant_spec,
    wrong_option,
    wrong_value,
)

ROOT = Path(__file__).resolve().parents[2]

# MathVista testmini pid 3: gold "145°" is option C.
ANGLE = Item(benchmark="mathvista", item_id="3", question="∠BOC = ?", options=("135°", "140°", "145°", "150°"),
             answer="145°")
FLOAT = Item(benchmark="mathvista", item_id="1", question="By what distance d is the spring compressed?",
             answer="1.2", answer_type="float", precision=1)
INTEGER = Item(benchmark="mathvista", item_id="2", question="What is the total volume of the measuring cup?",
               answer="1000", answer_type="integer", unit="g")
LIST = Item(benchmark="mathvista", item_id="9", question="List the values.", answer="[1, 2]", answer_type="list")
TEXT = Item(benchmark="mathvista", item_id="10", question="Name the shape.", answer="circle", answer_type="text")

WRONG_FAMILY = ("misleadcap", "misleadcap_disclaimer", "misleadcap_abstain", "wrongthink", "wrongthink_but",
                "wrongthink_abstain")


def mc(item_id: str, options, answer: str, benchmark: str = "demo") -> Item:
    return Item(benchmark=benchmark, item_id=item_id, question="Which one?", options=tuple(options), answer=answer)


def norm(text: str) -> str:
    return " ".join(text.split()).casefold()


# --- the variant table ---------------------------------------------------------------------------------------

def test_every_variant_name_has_a_spec_in_order():
    assert tuple(VARIANTS) == VARIANT_NAMES
    assert len(VARIANT_NAMES) == 11


def test_prefill_variants_are_exactly_the_think_variants():
    assert {name for name in VARIANT_NAMES if variant_spec(name).is_prefill} == {
        "stopthink", "wrongthink", "wrongthink_but", "truethink", "wrongthink_abstain"}


def test_unknown_variant_names_the_valid_ones_and_a_close_match():
    with pytest.raises(ValueError) as err:
        variant_spec("wrongthnk")
    message = str(err.value)
    assert "Did you mean 'wrongthink'?" in message
    assert all(name in message for name in VARIANT_NAMES)
    with pytest.raises(ValueError):
        perturb(ANGLE, "wrong_think_but_more")


# --- the wrong option: SHA-256 of (benchmark, item_id, seed), uniform over non-gold options --------------------

@pytest.mark.parametrize(("item", "seed", "expected"), [
    # sha256("mathvista\x1f3\x1f0") = ade4220e…3ca65ba2, as an int mod 3 = 0 -> candidates (A, B, D)[0] = A
    (ANGLE, 0, "A"),
    # sha256("mathvista\x1f17\x1f0") = 33c08479…83331140, mod 3 = 1 -> (A, B, D)[1] = B
    (mc("17", ("1", "2", "3", "4"), "3", benchmark="mathvista"), 0, "B"),
    # sha256("demo\x1fq1\x1f0") = 9c2acdc1…d820872c, mod 3 = 2 -> (B, C, D)[2] = D
    (mc("q1", ("yes", "no", "maybe", "never"), "yes"), 0, "D"),
    # sha256("demo\x1fq1\x1f7") = 82641952…297d9913, mod 3 = 0 -> (B, C, D)[0] = B: the seed changes the draw
    (mc("q1", ("yes", "no", "maybe", "never"), "yes"), 7, "B"),
    # sha256("demo\x1fdup\x1f0") = 20138fdc…fdea905f7, mod 2 = 1 (odd last digit); A and C repeat the gold text,
    # so the candidates are (B, D) -> D
    (mc("dup", ("2", "3", " 2 ", "4"), "2"), 0, "D"),
])
def test_wrong_option_matches_the_hand_computed_sha256_draw(item, seed, expected):
    assert wrong_option(item, seed) == expected


@settings(max_examples=200, deadline=None)
@given(options=st.lists(st.sampled_from(["1", "2", " 2", "TWO", "two", "Two "]), min_size=2, max_size=8),
       gold_index=st.integers(min_value=0), item_id=st.text(min_size=1, max_size=6).filter(str.strip),
       seed=st.integers(0, 10**6))
def test_wrong_option_never_has_the_gold_text_even_with_repeated_choices(options, gold_index, item_id, seed):
    item = mc(item_id, options, options[gold_index % len(options)])
    gold = norm(item.answer)
    if all(norm(option) == gold for option in options):
        with pytest.raises(ValueError, match="no wrong option"):
            wrong_option(item, seed)
        return
    letter = wrong_option(item, seed)
    assert letter in item.letters
    assert norm(item.options[item.letters.index(letter)]) != gold


def test_wrong_option_ignores_option_positions_of_other_items_and_the_variant():
    # Same (benchmark, item_id, seed) -> same index among the candidates, whatever else is in the dataset.
    assert wrong_option(ANGLE, 0) == wrong_option(ANGLE, 0) == perturb(ANGLE, "misleadcap").target


@pytest.mark.parametrize("item_id", [str(i) for i in range(40)])
def test_misleadcap_wrongthink_and_derivatives_share_one_target(item_id):
    item = mc(item_id, ("a", "b", "c", "d", "e"), "c")
    targets = {perturb(item, variant, PerturbConfig(seed=3)).target for variant in WRONG_FAMILY}
    assert targets == {wrong_option(item, 3)}


def test_free_form_wrong_family_shares_one_value():
    variants = ("misleadcap", "misleadcap_disclaimer", "wrongthink", "wrongthink_but")
    assert {perturb(FLOAT, variant).target for variant in variants} == {"1.1"}


# --- free-form wrong values ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("item", "expected"), [
    # sha256("mathvista\x1f1\x1f0") ends in …d65b: odd -> down: 1.2 - 0.1
    (FLOAT, "1.1"),
    # sha256("mathvista\x1f2\x1f0") ends in …8df9: odd -> down: 1000 - 1
    (INTEGER, "999"),
    # sha256("demo\x1fpos\x1f0") ends in …bc21: odd -> down would reach 0, so up
    (Item("demo", "pos", "n?", answer="1", answer_type="integer"), "2"),
    (Item("demo", "pos", "x?", answer="0.1", answer_type="float", precision=1), "0.2"),
    # sha256("demo\x1fneg\x1f0") ends in …a35a: even -> up would reach 0, so down
    (Item("demo", "neg", "n?", answer="-1", answer_type="integer"), "-2"),
    (Item("demo", "neg", "x?", answer="-0.01", answer_type="float", precision=2), "-0.02"),
    # sha256("demo\x1fzero\x1f0") ends in …6ef0: even -> up
    (Item("demo", "zero", "n?", answer="0", answer_type="integer"), "1"),
    # formatted with the item's precision; gold rounded to it first
    (Item("demo", "zero", "x?", answer="51.04", answer_type="float", precision=2), "51.05"),
    (Item("demo", "zero", "x?", answer="3", answer_type="float", precision=1), "3.1"),
    # no precision: the decimals written in the gold
    (Item("demo", "zero", "x?", answer="0.25", answer_type="float"), "0.26"),
])
def test_wrong_value_steps_by_one_unit_of_precision_and_keeps_the_sign(item, expected):
    assert wrong_value(item) == expected


@settings(max_examples=200, deadline=None)
@given(value=st.integers(-10**6, 10**6), places=st.integers(0, 4),
       item_id=st.text(min_size=1, max_size=5).filter(str.strip))
def test_wrong_value_is_never_gold_and_never_changes_sign(value, places, item_id):
    gold = f"{value / 10**places:.{places}f}"
    item = Item("demo", item_id, "x?", answer=gold, answer_type="float", precision=places)
    wrong = wrong_value(item)
    assert wrong != gold
    assert abs(float(wrong) - float(gold)) == pytest.approx(10**-places)
    if float(gold) != 0:
        assert (float(wrong) > 0) == (float(gold) > 0)
    assert wrong == f"{float(wrong):.{places}f}"


def test_wrong_value_refuses_non_numeric_golds():
    with pytest.raises(ValueError):
        wrong_value(LIST)
    with pytest.raises(ValueError, match="not a number"):
        wrong_value(Item("demo", "x", "n?", answer="about 3", answer_type="integer"))


# --- exact captions and prefills, one per variant -------------------------------------------------------------

MC_RATIONALE_A = ("Let me look at the image carefully. What the figure shows matches 135°, and none of the other "
                  "options fits it as well, so the answer is (A).")
MC_RATIONALE_C = ("Let me look at the image carefully. What the figure shows matches 145°, and none of the other "
                  "options fits it as well, so the answer is (C).")
STOP = "<think>Okay let's see. This should be the final answer.</think>"

EXPECTED_MC = {
    # variant: (target, caption, prefill, abstain_letter)
    "base": (None, None, None, None),
    "stopthink": (None, None, STOP, None),
    "wrongthink": ("A", None, "<think>" + MC_RATIONALE_A, None),
    "wrongthink_but": ("A", None, "<think>" + MC_RATIONALE_A + " But", None),
    "misleadcap": ("A", "The image shows that the answer is 135°.", None, None),
    "misleadcap_disclaimer": ("A", "The image shows that the answer is 135°. But I could be wrong.", None, None),
    "truecap": ("C", "The image shows that the answer is 145°.", None, None),
    "truethink": ("C", None, "<think>" + MC_RATIONALE_C, None),
    "abstain": (None, None, None, "E"),
    "misleadcap_abstain": ("A", "The image shows that the answer is 135°.", None, "E"),
    "wrongthink_abstain": ("A", None, "<think>" + MC_RATIONALE_A, "E"),
}


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_multiple_choice_variant_renders_exactly(variant):
    pert = perturb(ANGLE, variant)
    assert pert.applicable and pert.reason is None
    assert (pert.target, pert.caption, pert.prefill, pert.abstain_letter) == EXPECTED_MC[variant]
    if EXPECTED_MC[variant][3]:
        assert pert.item.options == (*ANGLE.options, "I'm not sure")
        assert pert.item.gold_letters == ("C",)
    else:
        assert pert.item == ANGLE


FF_RATIONALE_WRONG = ("Let me look at the image carefully. Reading the relevant quantities off the figure and working "
                      "through the question gives 1.1, so the answer is 1.1.")
EXPECTED_FREE_FORM = {
    "base": (None, None, None),
    "stopthink": (None, None, STOP),
    "wrongthink": ("1.1", None, "<think>" + FF_RATIONALE_WRONG),
    "wrongthink_but": ("1.1", None, "<think>" + FF_RATIONALE_WRONG + " But"),
    "misleadcap": ("1.1", "The image shows that the answer is 1.1.", None),
    "misleadcap_disclaimer": ("1.1", "The image shows that the answer is 1.1. But I could be wrong.", None),
    "truecap": ("1.2", "The image shows that the answer is 1.2.", None),
    "truethink": ("1.2", None, "<think>" + FF_RATIONALE_WRONG.replace("1.1", "1.2")),
}


@pytest.mark.parametrize("variant", sorted(EXPECTED_FREE_FORM))
def test_free_form_variant_renders_exactly(variant):
    pert = perturb(FLOAT, variant)
    assert pert.applicable and pert.item == FLOAT and pert.abstain_letter is None
    assert (pert.target, pert.caption, pert.prefill) == EXPECTED_FREE_FORM[variant]


@pytest.mark.parametrize("variant", ["abstain", "misleadcap_abstain", "wrongthink_abstain"])
@pytest.mark.parametrize("item", [FLOAT, INTEGER, LIST, TEXT], ids=lambda i: i.answer_type)
def test_abstain_variants_do_not_apply_to_free_form_items(variant, item):
    pert = perturb(item, variant)
    assert not pert.applicable and "free-form" in pert.reason
    assert (pert.target, pert.caption, pert.prefill, pert.abstain_letter) == (None, None, None, None)
    assert pert.item == item


@pytest.mark.parametrize("item", [LIST, TEXT], ids=lambda i: i.answer_type)
def test_list_and_text_answers_have_no_caption_or_rationale_variants(item):
    for variant in ("wrongthink", "wrongthink_but", "misleadcap", "misleadcap_disclaimer", "truecap", "truethink"):
        pert = perturb(item, variant)
        assert not pert.applicable and item.answer_type in pert.reason
    assert perturb(item, "base").applicable
    assert perturb(item, "stopthink").applicable and perturb(item, "stopthink").prefill == STOP


def test_wrong_variants_do_not_apply_when_every_option_is_the_gold_text():
    item = mc("same", ("7", " 7"), "7")
    assert not perturb(item, "misleadcap").applicable
    assert "no wrong option" in perturb(item, "wrongthink").reason
    assert perturb(item, "truecap").caption == "The image shows that the answer is 7."


def test_abstain_option_takes_the_next_letter_and_is_never_the_wrong_option():
    for item_id in map(str, range(30)):
        pert = perturb(mc(item_id, ("x", "y"), "x"), "misleadcap_abstain")
        assert pert.abstain_letter == "C" and pert.item.options[-1] == "I'm not sure"
        assert pert.target == "B"


def test_rationales_end_with_the_commitment_the_parser_reads():
    for item in (ANGLE, mc("q1", ("yes", "no", "maybe", "never"), "yes"), mc("dup", ("2", "3", " 2 ", "4"), "2")):
        for variant in ("wrongthink", "truethink"):
            pert = perturb(item, variant)
            assert pert.prefill.startswith("<think>")
            assert pert.prefill.endswith(f"so the answer is ({pert.target}).")
            assert len(re.findall(r"[.!?](\s|$)", pert.prefill)) in (2, 3)  # 2-3 sentences
    assert perturb(INTEGER, "wrongthink").prefill.endswith("so the answer is 999.")


def test_option_text_is_cleaned_inside_the_caption():
    item = mc("clean", ("The  cat\nsits.", "A dog."), "A dog.")
    assert perturb(item, "misleadcap").caption == "The image shows that the answer is The cat sits."


@settings(max_examples=100, deadline=None)
@given(but=st.text(max_size=5), disclaimer=st.text(max_size=5), stop=st.text(min_size=1, max_size=5))
def test_prefills_and_captions_never_end_in_whitespace(but, disclaimer, stop):
    config = PerturbConfig(but_text=but + " ", disclaimer_text=disclaimer + "\n", stopthink_text=stop + " ")
    for variant in VARIANT_NAMES:
        pert = perturb(ANGLE, variant, config)
        for text in (pert.prefill, pert.caption):
            assert text is None or text == text.rstrip()


def test_config_texts_are_used_and_recorded():
    config = PerturbConfig(seed=7, but_text="Wait", disclaimer_text="Maybe not.", abstain_text="Cannot tell",
                           stopthink_text="<think></think>")
    item = mc("q1", ("yes", "no", "maybe", "never"), "yes")
    assert perturb(item, "wrongthink_but", config).prefill.endswith("so the answer is (B). Wait")
    assert perturb(item, "misleadcap_disclaimer", config).caption.endswith("answer is no. Maybe not.")
    assert perturb(item, "abstain", config).item.options[-1] == "Cannot tell"
    assert perturb(item, "stopthink", config).prefill == "<think></think>"
    assert PerturbConfig().as_metadata() == {
        "seed": 0, "stopthink_text": STOP, "disclaimer_text": "But I could be wrong.", "but_text": "But",
        "abstain_text": "I'm not sure"}


def test_a_custom_generator_replaces_the_templates():
    class Fixed:
        def caption(self, item, target):
            return f"cap {target}  "

        def rationale(self, item, target):
            return f"why {target}"

    assert perturb(ANGLE, "misleadcap_disclaimer", generator=Fixed()).caption == "cap A But I could be wrong."
    assert perturb(ANGLE, "wrongthink_but", generator=Fixed()).prefill == "<think>why A But"


def test_template_generator_rejects_a_target_that_is_not_a_letter():
    with pytest.raises(ValueError):
        TemplateGenerator().caption(ANGLE, "Z")


def test_as_record_is_json_safe_and_complete():
    record = perturb(ANGLE, "misleadcap_abstain").as_record()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"variant", "target", "caption", "prefill", "abstain_letter", "applicable", "reason",
                           "text_source"}
    assert record["text_source"] == "generic: no question type matches the wording"
    assert perturb(ANGLE, "base").text_source is None  # no caption, no rationale: nothing wrote text
    assert isinstance(perturb(ANGLE, "base"), Perturbation)


def test_a_generic_caption_names_the_option_text_never_its_letter():
    for letter in ANGLE.letters:
        caption = TemplateGenerator().caption(ANGLE, letter)
        assert letter_mention(caption, ANGLE.letters) is None and caption.endswith(" answer is "
                                                                                    f"{ANGLE.options[ANGLE.letters.index(letter)]}.")


@pytest.mark.parametrize(("text", "letters", "mention"), [
    ("The image shows that the answer is (C) 110.", None, "(C)"),
    ("Pick option B here.", None, "option B"),
    ("The value of f(x) at 2 is 5.", None, None),  # a function's argument is no option letter
    ("The letter M is to the right of the letter T.", ("A", "B", "C", "D"), None),  # letters painted in the image
    ("The letter A is on the wall.", ("A", "B"), "letter A"),
    ("( b ) is right.", ("A", "B"), "( b )"),
])
def test_letter_mention_finds_the_options_letters_only(text, letters, mention):
    assert letter_mention(text, letters) == mention


def test_a_zero_gold_never_steps_below_zero():
    items = [Item("demo", f"z{i}", "How many cars?", answer="0", answer_type="integer") for i in range(40)]
    assert {wrong_value(item) for item in items} == {"1"}  # half of them would draw "down" (-1) otherwise
    floats = [Item("demo", f"f{i}", "x?", answer="0.0", answer_type="float", precision=1) for i in range(40)]
    assert {wrong_value(item) for item in floats} == {"0.1"}


def test_a_malformed_release_row_is_not_applicable_in_every_variant_with_its_reason():
    item = Item("demo", "bad", "Is the deer sitting?", ("yes", "no"), "", defect="answer 'A. no': letter and text differ")
    for variant in VARIANT_NAMES:
        pert = perturb(item, variant)
        assert not pert.applicable and pert.target is None and pert.caption is None
        assert pert.reason == "malformed release row: answer 'A. no': letter and text differ"
    with pytest.raises(ItemError, match="not among the options"):  # without a recorded defect it is an error
        Item("demo", "bad", "Is the deer sitting?", ("yes", "no"), "")


# --- determinism ---------------------------------------------------------------------------------------------

def corpus() -> list[Item]:
    items = [ANGLE, FLOAT, INTEGER, LIST, TEXT]
    items += [mc(f"m{i}", [f"opt {j}" for j in range(2 + i % 6)], f"opt {i % 2}") for i in range(30)]
    items += [Item("demo", f"f{i}", "x?", answer=str(i * 7 - 50), answer_type="integer") for i in range(15)]
    return items


def dump(items) -> dict:
    return {f"{item.benchmark}/{item.item_id}/{variant}": [perturb(item, variant, PerturbConfig(seed=5)).as_record(),
                                                          list(perturb(item, variant).item.options)]
            for item in items for variant in VARIANT_NAMES}


def test_perturbations_do_not_depend_on_item_order():
    items = corpus()
    shuffled = items[:]
    random.Random(1).shuffle(shuffled)
    assert dump(items) == dump(shuffled)


def run_python(code: str, hashseed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hashseed,
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("hashseed", ["0", "4242"])
def test_perturbations_are_byte_identical_in_another_process(hashseed):
    code = ("import importlib.util, json\n"
            f"spec = importlib.util.spec_from_file_location('perturb_cases', {str(Path(__file__).resolve())!r})\n"
            "t = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(t)\n"
            "print(json.dumps(t.dump(t.corpus()), ensure_ascii=False, sort_keys=True))")
    assert run_python(code, hashseed).strip() == json.dumps(dump(corpus()), ensure_ascii=False, sort_keys=True)


def test_core_imports_neither_torch_nor_lmms_eval():
    code = ("import sys, lmms_robust.core.perturb, lmms_robust.core.scoring\n"
            "print(sorted(m for m in ('torch', 'lmms_eval') if m in sys.modules))")
    assert run_python(code, "0").strip() == "[]"


def test_abstain_does_not_apply_when_no_letter_is_left():
    item = mc("full", [f"o{i}" for i in range(26)], "o0")
    pert = perturb(item, "abstain")
    assert not pert.applicable and "no letter left" in pert.reason
