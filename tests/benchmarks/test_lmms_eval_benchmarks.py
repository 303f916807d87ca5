"""The five paper benchmarks lmms-eval already loads: adapters on fixtures in each set's own schema, the data
config shared with lmms-eval's task, and images through lmms-eval's own doc_to_visual."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmms_robust.benchmarks import BENCHMARKS, PAPER_BENCHMARKS
from lmms_robust.core.items import ItemError
from lmms_robust.resources import tasks_dir
from lmms_robust.testing.fixtures import fixture_module

LMMS_EVAL_TASKS = {  # our benchmark -> lmms-eval's task folder and YAML files holding its data config
    "3dsrbench": ("3dsrbench", ["_default_template_yaml", "3dsrbench.yaml"]),
    "cv_bench": ("cv_bench", ["cv_bench.yaml"]),
    "vstar_bench": ("vstar_bench", ["_default_template_yaml"]),
    "mme_realworld_lite": ("mme_realworld", ["mme_realworld_lite.yaml"]),
    "mmbench_en_dev": ("mmbench", ["_default_template_mmbench_en_yaml", "mmbench_en_dev.yaml"]),
}

# (item_id, options, gold letters, category, question start) per fixture row, written out by hand.
EXPECTED = {
    "3dsrbench": [
        ("VIN6MS3J", ("baseball glove", "red hat of the person in red in the back"), ("B",), "height_higher",
         "Consider the real-world 3D locations of the objects. Which object has a higher location?"),
        ("GQ7BARHQ", ("yes", "no"), ("B",), "location_above", "Consider the real-world 3D locations"),
        ("H02UN3F2-flip", ("on the left", "on the right"), ("B",), "orientation_on_the_left",
         "Consider the real-world 3D locations and orientations of the objects. If I stand"),
        ("NPO2H022", ("front", "left", "back", "right"), ("C",), "multi_object_viewpoint_towards_object",
         "Consider the real-world 3D locations and orientations of the objects. Which side of the cow"),
        ("2N3G0DUQ", ("next to each other", "far away from each other"), ("A",), "location_next_to",
         "Consider the real-world 3D locations of the objects. Are the Information board"),
    ],
    "cv_bench": [
        ("1", ("4", "5", "8", "0", "6", "7"), ("E",), "Count", "How many cushions"),  # six options, A-F
        ("1004", ("above", "below"), ("A",), "Relation", "Considering the relative"),
        ("1503", ("trailer", "car"), ("B",), "Depth", "Which object is closer to the camera"),
        ("2105", ("bowl", "bin"), ("B",), "Distance", "Estimate the real-world"),
        ("0", ("3", "2", "1", "0"), ("C",), "Count", "How many organs"),
    ],
    "mme_realworld_lite": [
        ("perception/monitoring/vehicle/counting/0475", ("2", "8", "11", "1", "The image does not feature the cars"),
         ("A",), "Perception/Monitoring/vehicle/counting", "What is the number of cars"),
        ("Reasoning/Autonomous_Driving/Prediction_Intention_Ego/0045",
         ("The ego vehicle is going straight. The ego vehicle is driving very fast.",
          "The ego vehicle is steering to the right. The ego vehicle is driving fast.",
          "The ego vehicle is going straight. The ego vehicle is driving fast.",
          "The ego vehicle is going straight. The ego vehicle is not moving.", "All the above answers are wrong."),
         ("E",), "Reasoning/Autonomous_Driving/Prediction_Intention_Ego", "This image shows the front view"),
        ("Perception/Autonomous_Driving/Attribute_Motion_Vehicle/0146",
         ("moving", "other", "stopped", "parked", "The image does not feature the object"), ("A",),
         "Perception/Autonomous_Driving/Attribute_Motion_Vehicle", "What is motion of the black truck"),
        ("perception/ocr_cc/text_recog/0863", ("3/21/2017", "3/20/2019", "4/20/2017", "3/20/2017",
                                               "The image doesn't feature the content."), ("D",),
         "Perception/OCR with Complex Context/text_recog", "What is the date shown"),
    ],
    "vstar_bench": [
        ("sa_30411", ("The color of the man's cap is white.", "The color of the man's cap is blue.",
                      "The color of the man's cap is black.", "The color of the man's cap is red."), ("A",),
         "direct_attributes", "What is the color of the man's cap?"),
        ("sa_31784", ("The shovel is on the right side of the house.", "The shovel is on the left side of the house."),
         ("A",), "relative_position", "Is the shovel on the left or right side of the house?"),
        ("sa_2977", ("rubber", "cotton", "leather", "wool"), ("A",), "direct_attributes", "What is the material"),
        ("sa_1103", ("The motorcycle is on the left side of the dog.", "The motorcycle is on the right side of the "
                     "dog."), ("B",), "relative_position", "Is the motorcycle on the left or right"),
    ],
    "mmbench_en_dev": [
        ("241", ("up", "down", "left", "right"), ("C",), "spatial_relationship", "Which direction"),
        ("1002", ("red", "yellow", "blue"), ("A",), "attribute_recognition", "The photo was taken on a rainy street.\n"),
        ("1517", ("A man riding a horse on a beach", "A dog sleeping on a sofa"), ("B",), "image_topic", "Which of the"),
        ("2230", ("2", "3", "4", "5", "6"), ("D",), "object_localization", "How many birds"),
    ],
}


def _rows(benchmark: str) -> list[dict]:
    module = BENCHMARKS[benchmark]
    rows = []
    for row in fixture_module(benchmark).dataset():
        row[module.IMAGE_FIELD] = "<image>"
        rows.append(row)
    return rows


@pytest.mark.parametrize("benchmark", sorted(EXPECTED))
def test_fixture_rows_become_the_expected_items(benchmark):
    items = [BENCHMARKS[benchmark].to_item(row) for row in _rows(benchmark)]
    got = [(i.item_id, i.options, i.gold_letters, i.category) for i in items]
    assert got == [row[:4] for row in EXPECTED[benchmark]]
    for item, expected in zip(items, EXPECTED[benchmark]):
        assert item.question.startswith(expected[4]) and item.benchmark == benchmark and item.is_multiple_choice


def test_mme_repeated_letter_row_is_repaired_by_the_recorded_rule():
    """Prediction_Intention_Ego/0045 as released: "(D)" twice. The second "(D) None of the above" is dropped; the gold
    letter E still names "(E) All the above answers are wrong." as written; the repair is kept in the item."""
    row = _rows("mme_realworld_lite")[1]
    item = BENCHMARKS["mme_realworld_lite"].to_item(row)
    assert len(item.options) == 5 and item.answer == "All the above answers are wrong." and item.gold_letters == ("E",)
    assert item.repairs == ("lmms-robust/mme-repeated-letter/v1: dropped '(D) None of the above', a second option "
                            "lettered D",)
    assert BENCHMARKS["mme_realworld_lite"].to_item(_rows("mme_realworld_lite")[0]).repairs == ()


def test_vstar_instruction_line_is_not_part_of_the_last_option():
    item = BENCHMARKS["vstar_bench"].to_item(_rows("vstar_bench")[2])
    assert item.options[-1] == "wool" and item.question == "What is the material of the glove?"


def test_every_paper_benchmark_has_all_variant_tasks_and_a_group():
    from lmms_robust.core.perturb import VARIANT_NAMES

    for benchmark in PAPER_BENCHMARKS:
        folder = tasks_dir() / benchmark
        names = {p.name for p in folder.glob("*.yaml")}
        assert names == {f"{benchmark}_{v}.yaml" for v in (*VARIANT_NAMES, "robust")}, benchmark
        group = yaml.safe_load((folder / f"{benchmark}_robust.yaml").read_text())
        assert group["task"] == [f"{benchmark}_{v}" for v in VARIANT_NAMES]
    eight = yaml.safe_load((tasks_dir() / "lmms_robust_eight.yaml").read_text())
    assert eight["task"] == [f"{b}_robust" for b in PAPER_BENCHMARKS]


def _data_config(path: Path) -> dict:
    text = "\n".join(line for line in path.read_text().splitlines() if "!function" not in line)
    config = yaml.safe_load(text) or {}
    return {key: config[key] for key in ("dataset_path", "dataset_name", "test_split", "dataset_kwargs") if key in config}


@pytest.mark.parametrize("benchmark", sorted(LMMS_EVAL_TASKS))
def test_data_config_is_lmms_evals_own(benchmark):
    """We read what lmms-eval's task reads: same hub id, config, split and load kwargs."""
    import lmms_eval

    folder, files = LMMS_EVAL_TASKS[benchmark]
    theirs: dict = {}
    for name in files:
        theirs.update(_data_config(Path(lmms_eval.__file__).parent / "tasks" / folder / name))
    ours = _data_config(tasks_dir() / benchmark / f"_lmms_robust_{benchmark}_yaml")
    assert ours == theirs


@pytest.mark.parametrize("benchmark", sorted(LMMS_EVAL_TASKS))
def test_images_come_through_lmms_evals_loader(benchmark):
    module = BENCHMARKS[benchmark]
    doc = fixture_module(benchmark).dataset()[0]
    images = module.images(doc)
    assert len(images) == 1 and images[0].mode == "RGB" and images[0].size == (64, 64)
    doc[module.IMAGE_FIELD] = None
    assert module.images(doc) == []


BAD_ROWS = [  # (benchmark, row edit, words the message must contain)
    ("3dsrbench", lambda r: r.pop("category"), ["VIN6MS3J", "category"]),
    ("3dsrbench", lambda r: r.update(B="nan", C=None, D=None), ["VIN6MS3J", "at least 2 options"]),
    ("3dsrbench", lambda r: r.update(B="nan", C="back", D="right"), ["VIN6MS3J", "gap"]),
    ("3dsrbench", lambda r: r.update(answer="E"), ["VIN6MS3J", "'E'", "option letters"]),
    ("cv_bench", lambda r: r.update(answer="maybe"), ["'1'", "option letters"]),
    ("cv_bench", lambda r: r.update(image=None), ["'1'", "no image"]),
    ("cv_bench", lambda r: r.update(question="  "), ["'1'", "empty question"]),
    ("mme_realworld_lite", lambda r: r.update(**{"multi-choice options": ["(A) 2", "(C) 3"]}),
     ["perception/monitoring/vehicle/counting/0475", "['A', 'C'] do not run A, B, C"]),
    ("mme_realworld_lite", lambda r: r.update(**{"multi-choice options": ["(A) 2", "B) 3"]}),
     ["perception/monitoring/vehicle/counting/0475", "expected '(B) text'"]),
    ("mme_realworld_lite", lambda r: r.pop("bytes"), ["perception/monitoring/vehicle/counting/0475", "bytes"]),
    ("vstar_bench", lambda r: r.update(text="What colour is it?"), ["sa_30411", "no options"]),
    ("vstar_bench", lambda r: r.update(label=None), ["sa_30411", "null"]),
    ("mmbench_en_dev", lambda r: r.pop("hint"), ["241", "hint"]),
    ("mmbench_en_dev", lambda r: r.update(answer="E"), ["241", "'E'"]),
]


@pytest.mark.parametrize("benchmark, edit, words", BAD_ROWS)
def test_bad_rows_are_errors_naming_the_item(benchmark, edit, words):
    row = _rows(benchmark)[0]
    edit(row)
    with pytest.raises(ItemError) as err:
        BENCHMARKS[benchmark].to_item(row)
    for word in words:
        assert word in str(err.value), (word, str(err.value))
