"""Augmentation: rates, determinism by item_id, texts identical to the evaluation's, TRL-ready columns."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import datasets
import pytest

from lmms_robust.core.items import Item
from lmms_robust.core.perturb import perturb
from lmms_robust.training.augment import AUGMENTATIONS, augment_dataset, draw_augmentation
from lmms_robust.training.rewards import item_from_json, trl_total_reward

N = 4000
TESTMINI = Path("/work/shared/external_data/mathvista/testmini.json")
if not TESTMINI.exists():
    TESTMINI = Path(__file__).resolve().parents[3] / "shared/external_data/mathvista/testmini.json"


def synthetic_item(row: dict) -> Item:
    return Item(benchmark="synth", item_id=row["id"], question=row["question"], options=tuple(row["choices"]),
                answer=row["answer"])


@pytest.fixture(scope="module")
def synthetic() -> datasets.Dataset:
    return datasets.Dataset.from_dict({
        "id": [f"q{i}" for i in range(N)],
        "question": [f"Which colour is shape {i}?" for i in range(N)],
        "choices": [["red", "green", "blue", "yellow"][: 2 + i % 3] for i in range(N)],
        "answer": [["red", "green"][i % 2] for i in range(N)],
    })


@pytest.fixture(scope="module")
def augmented(synthetic) -> datasets.Dataset:
    return augment_dataset(synthetic, "synth", synthetic_item, seed=0)


def test_rates_are_within_binomial_tolerance(augmented):
    counts = Counter(augmented["lr_augmentation"])
    assert set(counts) == {"base", *AUGMENTATIONS}
    for name, p in [("base", 0.6)] + [(name, 0.1) for name in AUGMENTATIONS]:
        sd = math.sqrt(N * p * (1 - p))
        assert abs(counts[name] - N * p) <= 4.5 * sd, (name, counts[name])


def test_augmentation_is_exactly_reproducible(synthetic, augmented):
    again = augment_dataset(synthetic, "synth", synthetic_item, seed=0)
    assert again.to_dict() == augmented.to_dict()
    other = augment_dataset(synthetic, "synth", synthetic_item, seed=1)
    assert other["lr_augmentation"] != augmented["lr_augmentation"]


def test_draw_depends_on_item_id_only_not_on_order_or_shard(synthetic, augmented):
    expected = dict(zip(augmented["lr_item_id"], augmented["lr_augmentation"]))
    shuffled = augment_dataset(synthetic.shuffle(seed=7), "synth", synthetic_item, seed=0)
    assert dict(zip(shuffled["lr_item_id"], shuffled["lr_augmentation"])) == expected
    shard = augment_dataset(synthetic.shard(num_shards=4, index=3), "synth", synthetic_item, seed=0)
    assert all(expected[i] == a for i, a in zip(shard["lr_item_id"], shard["lr_augmentation"]))
    assert all(draw_augmentation("synth", i, 0) == a for i, a in list(expected.items())[:200])


def test_prompt_columns_are_trl_conversational(augmented):
    for row in augmented.select(range(200)):
        prompt = row["prompt"]
        assert prompt[0]["role"] == "user" and prompt[0]["content"][-1]["type"] == "text"
        assert not any(part["type"] == "image" for part in prompt[0]["content"])  # no image column: no placeholder
        prefilled = row["lr_augmentation"] in ("truethink", "wrongthink")
        assert (len(prompt) == 2) == prefilled == (row["lr_prefill"] is not None)
        if prefilled:
            assert prompt[1] == {"role": "assistant", "content": [{"type": "text", "text": row["lr_prefill"]}]}
        captioned = row["lr_augmentation"] in ("truecap", "misleadcap")
        assert prompt[0]["content"][-1]["text"].startswith("Image description: ") == captioned


def test_texts_are_the_evaluations_own(augmented):
    from lmms_robust.core.perturb import PerturbConfig

    for row in augmented.select(range(300)):
        item = item_from_json(row["lr_item"])
        pert = perturb(item, row["lr_augmentation"], PerturbConfig(seed=0))
        assert (row["lr_prefill"], row["lr_caption"], row["lr_target"]) == (pert.prefill, pert.caption, pert.target)


@pytest.mark.parametrize("variant", AUGMENTATIONS)
def test_user_turn_and_prefill_equal_the_harness_docs_on_mathvista_annotations(variant):
    from lmms_robust.harness.docs import build_docs, perturbation_from_doc
    from lmms_robust.harness.hooks import user_text

    if not TESTMINI.exists():
        pytest.skip(f"{TESTMINI} not available")
    rows = list(json.loads(TESTMINI.read_text()).values())
    fields = ("pid", "question", "choices", "answer", "question_type", "answer_type", "unit", "precision")
    ds = datasets.Dataset.from_list([{**{f: r.get(f) for f in fields}, "decoded_image": "png"} for r in rows])
    docs = build_docs(ds, "mathvista", variant)
    aug = augment_dataset(ds, "mathvista", probabilities={variant: 1.0})
    applied = 0
    for doc, row in zip(docs, aug):
        assert row["lr_item_id"] == doc["lr_item_id"]
        assert row["prompt"][0]["content"][0] == {"type": "image", "text": None}  # one image placeholder
        pert = perturbation_from_doc(doc)
        if not pert.applicable:
            assert row["lr_augmentation"] == "base" and row["lr_augmentation_drawn"] == variant
            continue
        applied += 1
        assert row["lr_augmentation"] == variant
        assert row["prompt"][0]["content"][-1]["text"] == user_text(doc)
        assert row["lr_prefill"] == pert.prefill and row["lr_target"] == pert.target
    assert applied >= 900  # only the 'list'/'text' free-form items cannot be perturbed


def test_image_placeholders_follow_the_image_column():
    ds = datasets.Dataset.from_dict({"id": ["a", "b", "c"], "question": ["q"] * 3, "choices": [["x", "y"]] * 3,
                                     "answer": ["x"] * 3, "images": [["i1", "i2"], [], None]})
    out = augment_dataset(ds, "synth", synthetic_item)
    assert [sum(p["type"] == "image" for p in r[0]["content"]) for r in out["prompt"]] == [2, 0, 0]
    assert out["images"] == ds["images"]  # the image column itself is kept untouched


def test_inapplicable_draws_leave_the_row_clean():
    item = Item(benchmark="synth", item_id="t1", question="Name the city.", answer="Paris", answer_type="text")
    ds = datasets.Dataset.from_dict({"id": ["t1"]})
    out = augment_dataset(ds, "synth", lambda row: item, probabilities={"misleadcap": 1.0})
    assert out["lr_augmentation"] == ["base"] and out["lr_augmentation_drawn"] == ["misleadcap"]
    assert out["lr_caption"] == [None] and len(out["prompt"][0]) == 1


@pytest.mark.parametrize("probabilities, message", [
    ({"wrongthnk": 0.1}, "Did you mean 'wrongthink'"),
    ({"base": 0.5}, "left over"),
    ({"truethink": 0.6, "wrongthink": 0.6}, "sum to"),
    ({"truecap": -0.1}, r"\[0, 1\]"),
])
def test_bad_probabilities_are_refused(synthetic, probabilities, message):
    with pytest.raises(ValueError, match=message):
        augment_dataset(synthetic.select(range(3)), "synth", synthetic_item, probabilities=probabilities)


def test_duplicate_item_ids_are_refused():
    ds = datasets.Dataset.from_dict({"id": ["a", "a"], "question": ["q"] * 2, "choices": [["x", "y"]] * 2,
                                     "answer": ["x"] * 2})
    with pytest.raises(ValueError, match="occurs twice"):
        augment_dataset(ds, "synth", synthetic_item)


def test_augmented_rows_feed_the_trl_rewards(augmented):
    rows = augmented.filter(lambda r: r["lr_augmentation"] == "wrongthink").select(range(3))
    gold = [item_from_json(j).gold_letters[0] for j in rows["lr_item"]]
    completions = [[{"role": "assistant", "content": f"</think><answer>{g}</answer>"}] for g in gold]
    got = trl_total_reward(prompts=rows["prompt"], completions=completions, lr_item=rows["lr_item"],
                           lr_prefill=rows["lr_prefill"])
    assert got == pytest.approx([1.1] * 3)
    without_column = trl_total_reward(prompts=rows["prompt"], completions=completions, lr_item=rows["lr_item"])
    assert without_column == pytest.approx([1.1] * 3)
