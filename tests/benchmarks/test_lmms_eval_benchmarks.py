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
        ("Q3D00001", ("front", "back", "left side", "right side"), ("D",), "orientation_viewpoint", "Which side"),
        ("Q3D00002", ("the lamp", "the table"), ("A",), "height_higher", "Which object is higher"),
        ("Q3D00003", ("yes", "no"), ("B",), "orientation_on_the_left", "Is the cup"),
        ("Q3D00004", ("the chair", "the sofa", "they are equally close"), ("B",), "location_closer_to_camera",
         "Which object is closer"),
    ],
    "cv_bench": [
        ("0", ("3", "2", "1", "0"), ("B",), "Count", "How many cars"),
        ("1", ("left", "right"), ("A",), "Relation", "Considering the relative"),
        ("2", ("chair", "table"), ("B",), "Depth", "Which object is closer to the camera"),
        ("3", ("bed", "pillow"), ("A",), "Distance", "Estimate the real-world"),
        ("4", ("4", "0", "2", "1", "3"), ("E",), "Count", "How many organs"),
    ],
    "mme_realworld_lite": [
        ("mrw-0001", ("2", "3", "4", "5", "6"), ("C",), "Perception/Monitoring/counting", "How many people"),
        ("mrw-0002", ("15", "51", "115", "151", "511"), ("A",), "Perception/OCR with Complex Context/text recognition",
         "What is the number"),
        ("mrw-0003", ("white", "black", "red", "silver", "The image does not feature the object"), ("D",),
         "Perception/Autonomous_Driving/attribute", "What is the color"),
        ("mrw-0004", ("turn left", "go straight", "stop", "turn right", "reverse"), ("B",),
         "Reasoning/Autonomous_Driving/intention", "What should the ego car"),
    ],
    "vstar_bench": [
        ("sa_4690", ("black", "white", "red", "blue"), ("C",), "direct_attributes", "What is the color of the woman's bag?"),
        ("sa_1103", ("left", "right"), ("B",), "relative_position", "Is the motorcycle on the left or right"),
        ("sa_2977", ("rubber", "cotton", "leather", "wool"), ("A",), "direct_attributes", "What is the material"),
        ("sa_3011", ("left", "right"), ("A",), "relative_position", "Is the cup"),
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
    ("3dsrbench", lambda r: r.pop("category"), ["Q3D00001", "category"]),
    ("3dsrbench", lambda r: r.update(B="nan", C="nan", D="nan"), ["Q3D00001", "at least 2 options"]),
    ("3dsrbench", lambda r: r.update(B="nan"), ["Q3D00001", "gap"]),
    ("3dsrbench", lambda r: r.update(answer="E"), ["Q3D00001", "'E'", "option letters"]),
    ("cv_bench", lambda r: r.update(answer="maybe"), ["'0'", "option letters"]),
    ("cv_bench", lambda r: r.update(image=None), ["'0'", "no image"]),
    ("cv_bench", lambda r: r.update(question="  "), ["'0'", "empty question"]),
    ("mme_realworld_lite", lambda r: r.update(**{"multi-choice options": ["(A) 2", "(C) 3"]}), ["mrw-0001", "(B)"]),
    ("mme_realworld_lite", lambda r: r.pop("bytes"), ["mrw-0001", "bytes"]),
    ("vstar_bench", lambda r: r.update(text="What colour is it?"), ["sa_4690", "no options"]),
    ("vstar_bench", lambda r: r.update(label=None), ["sa_4690", "null"]),
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
