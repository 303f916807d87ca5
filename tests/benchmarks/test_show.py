"""lmms-robust show: one item under each variant exactly as the hooks build it, and --stats over a split; the
MME-RealWorld release loader (both spellings of its question-type key, repeated ids, the repaired rows)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from lmms_robust.benchmarks import mme_realworld_lite
from lmms_robust.cli import main
from lmms_robust.core.perturb import VARIANT_NAMES, perturb
from lmms_robust.harness.docs import build_docs
from lmms_robust.harness.hooks import user_text
from lmms_robust.show import load, split_stats, views
from lmms_robust.testing.fixtures import fixture_module, write_fixture
from lmms_robust.testing.sample import draw_image

MME = "mme_realworld_lite"
EGO_0045 = "Reasoning/Autonomous_Driving/Prediction_Intention_Ego/0045"


@pytest.fixture(scope="module")
def mme_copy(tmp_path_factory) -> Path:
    return write_fixture(MME, tmp_path_factory.mktemp("mme") / "data")


def test_an_item_is_shown_as_the_hooks_build_it(mme_copy):
    dataset = load(MME, str(mme_copy))
    shown = views(dataset, MME, EGO_0045, ["misleadcap", "wrongthink"])
    full = {v: build_docs(dataset, MME, v) for v in ("misleadcap", "wrongthink")}
    for view in shown:
        doc = next(d for d in full[view.variant] if d["lr_item_id"] == EGO_0045)  # built with the whole split
        [user] = [m for m in view.messages if m["role"] == "user"]
        assert user["content"][-1]["text"] == user_text(doc)
    caption, think = shown
    assert caption.perturbation.caption == "The ego vehicle is going straight. The ego vehicle is not moving."
    assert [m["role"] for m in caption.messages] == ["user"] and caption.n_images == 1
    assert think.messages[-1] == {"role": "assistant", "content": [{"type": "text", "text": think.perturbation.prefill}]}
    assert think.perturbation.prefill.endswith("so the answer is (D).")


def test_the_cli_prints_the_user_turn_caption_prefill_target_gold_and_repair(mme_copy, capsys):
    assert main(["show", "--benchmark", MME, "--data", str(mme_copy), "--item", EGO_0045, "--variant",
                 "misleadcap_disclaimer", "--variant", "wrongthink_but"]) == 0
    out = capsys.readouterr().out
    assert out.count("=== mme_realworld_lite item") == 2
    assert "Image description: The ego vehicle is going straight. The ego vehicle is not moving. But I could be " \
           "wrong.\nThis image shows the front view of the ego car." in out
    assert "--- assistant (prefilled; the model continues from here)\n<think>" in out and "(D). But\n" in out
    assert "gold: E   target: D" in out and "text: natural/statement" in out
    assert "repaired: lmms-robust/mme-repeated-letter/v1: dropped '(D) None of the above'" in out
    assert "(E) All the above answers are wrong.\n" in out and "(D) None of the above" not in out.split("repaired")[0]


def test_an_unknown_item_names_the_close_ids(mme_copy, capsys):
    assert main(["show", "--benchmark", MME, "--data", str(mme_copy), "--item", "Prediction_Intention_Ego"]) == 2
    assert f"no item 'Prediction_Intention_Ego' in the split; ids containing it: ['{EGO_0045}']" in \
        capsys.readouterr().err


def test_stats_is_one_json_line_over_the_split(mme_copy, capsys):
    assert main(["show", "--benchmark", MME, "--data", str(mme_copy), "--stats"]) == 0
    [line] = capsys.readouterr().out.strip().splitlines()
    stats = json.loads(line)
    assert {k: stats[k] for k in ("items", "rejected", "malformed", "repaired", "not_applicable", "with_caption",
                                  "generic_fallback", "generic_fallback_share", "letter_in_caption",
                                  "letter_in_caption_share")} == {
        "items": 4, "rejected": 0, "malformed": 0, "repaired": 1, "not_applicable": 0, "with_caption": 4,
        "generic_fallback": 0, "generic_fallback_share": 0.0, "letter_in_caption": 0, "letter_in_caption_share": 0.0}


def test_stats_count_rejected_malformed_fallback_and_letter_rows(tmp_path):
    """A JSONL in the hub schema (what --data takes besides localize's inputs), images as file names."""
    rows = [dict(row, bytes="img.png") for row in fixture_module(MME).ROWS]
    rows.append({**rows[0], "index": "bad/1", "answer": "Z"})  # a gold letter outside the options stops a run
    rows.append({**rows[0], "index": "generic/1", "question": "When was the picture made?",
                 "multi-choice options": ["(A) 1990.", "(B) 1998.", "(C) 2012.", "(D) 2022."], "answer": "C"})
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    stats = split_stats(load(MME, str(path)), MME, samples=2)
    assert stats["items"] == 6 and stats["rejected"] == 1 and "'bad/1': gold answer 'Z'" in stats["rejected_examples"][0]
    assert stats["with_caption"] == 5 and stats["generic_fallback"] == 1 and stats["generic_fallback_share"] == 0.2
    assert stats["fallback_reasons"] == {"generic: no question type matches the wording": 1}
    assert stats["letter_in_caption"] == 0  # the generic caption states "2022", never "(D)"
    assert len(stats["samples"]) == 2 and all(s["prefill"].startswith("<think>") for s in stats["samples"])


def test_malformed_release_rows_are_counted_not_applicable(tmp_path):
    rows = [dict(row, image="x.png") for row in fixture_module("spatial_mm_obj").ROWS]
    rows[1] = {**rows[1], "answer": "A. no"}  # A is "yes": the release's letter and text disagree
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    stats = split_stats(load("spatial_mm_obj", str(path)), "spatial_mm_obj")
    assert stats["rejected"] == 0 and stats["malformed"] == 1 and stats["not_applicable"] == 1
    assert stats["not_applicable_reasons"] == {"malformed release row": 1} and stats["with_caption"] == 4
    docs = build_docs(load("spatial_mm_obj", str(path)), "spatial_mm_obj", "base")  # the run goes on
    payload = json.loads(docs[1]["lr_perturbation"])
    assert payload["applicable"] is False and "letter A is the option 'yes' but its text is the option 'no'" in \
        payload["reason"]


# --- MME-RealWorld's release --------------------------------------------------------------------------------------

def _mme_record(qid: str, key: str = "Question Type", **changes) -> dict:
    record = {"Question_id": qid, key: "Multiple Choice", "Image": f"{qid.split('/')[-1]}.png",
              "Text": "What color is the truck in the image?",
              "Answer choices": ["(A) Red", "(B) Silver", "(C) Black", "(D) Green",
                                 "(E) The image does not feature the truck"],
              "Ground truth": "B", "Category": "vehicle/attribute/color", "Subtask": "Monitoring", "Task": "Perception"}
    return {**record, **changes}


def _mme_release(root: Path, records: list[dict]) -> Path:
    """The release JSON at the top, the images in ``imgs/`` (one of the folders the loader looks in)."""
    (root / "imgs").mkdir(parents=True)
    (root / mme_realworld_lite.RELEASE_FILE).write_text(json.dumps(records))
    for index, record in enumerate(records):
        draw_image(index).save(root / "imgs" / record["Image"], format="PNG")
    return root


def test_mme_load_release_reads_both_spellings_and_keeps_repeats_apart(tmp_path):
    records = [_mme_record("perception/monitoring/vehicle/attribute/color/2048"),
               _mme_record("perception/monitoring/vehicle/attribute/color/2068", key="Question type"),
               _mme_record("perception/monitoring/vehicle/attribute/color/2048")]  # released twice, word for word
    release = _mme_release(tmp_path / "release", records)
    with pytest.warns(UserWarning, match=r"1 row\(s\) repeat an earlier row's Question_id \(1 ids\)"):
        dataset = mme_realworld_lite.load_release(release)
    assert dataset["index"] == ["perception/monitoring/vehicle/attribute/color/2048",
                                "perception/monitoring/vehicle/attribute/color/2068",
                                "perception/monitoring/vehicle/attribute/color/2048#1"]
    assert dataset["category"] == ["Perception/Monitoring"] * 3 and dataset["answer"] == ["B"] * 3
    assert base64.b64decode(dataset[0]["bytes"])[:4] == b"\x89PNG"  # the image, as lmms-eval's loader decodes it
    items = [mme_realworld_lite.to_item(row) for row in dataset]
    assert items[0].category == "Perception/Monitoring/vehicle/attribute/color" and items[0].answer == "Silver"
    assert [image.size for image in mme_realworld_lite.images(dataset[0])] == [(64, 64)]
    assert perturb(items[1], "misleadcap").caption == "The truck is green."  # "Green" lower-cased in the sentence


@pytest.mark.parametrize("changes, words", [
    ({"Question Type": "Open Ended"}, "question type 'Open Ended'"),
    ({"Question Type": None}, "question type None"),
])
def test_mme_load_release_refuses_what_is_not_multiple_choice(tmp_path, changes, words):
    record = _mme_record("x/1", **changes)
    if changes["Question Type"] is None:
        record.pop("Question Type")
    release = _mme_release(tmp_path / "release", [record])
    with pytest.raises(ValueError, match=words + r".*'Question Type' or 'Question type'"):
        mme_realworld_lite.load_release(release)


def test_every_variant_builds_on_the_real_format_fixtures():
    for benchmark in ("3dsrbench", "cv_bench", "vstar_bench", MME, "spatial_mm_obj", "spatial_mm_multihop"):
        dataset = fixture_module(benchmark).dataset()
        for variant in VARIANT_NAMES:
            docs = build_docs(dataset, benchmark, variant)
            assert len(docs) == len(dataset)
