"""WhatsUp Controlled_Images A/B: fixture rows -> Items, the SHA-256 option order (deterministic, gold spread over the
letters), the release loader on a fake release folder (the published JSON schema + PNGs), bad input naming the item."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lmms_robust.benchmarks import whatsup
from lmms_robust.core.items import LETTERS, Item, ItemError
from lmms_robust.testing.fixtures import fixture_module
from lmms_robust.testing.sample import draw_image

Q = whatsup.QUESTION


def rows() -> list[dict]:
    return list(fixture_module("whatsup").dataset())


def test_fixture_rows_become_the_expected_items():
    mug = "A mug {} a table".format
    cube = "A cube {} a sphere".format
    expected = [
        Item("whatsup", "controlled_a:mug_on_table.png:0", Q,
             (mug("to the left of"), mug("to the right of"), mug("under"), mug("on")), mug("on"), category="on"),
        Item("whatsup", "controlled_a:mug_under_table.png:0", Q,
             (mug("on"), mug("to the right of"), mug("under"), mug("to the left of")), mug("under"), category="under"),
        Item("whatsup", "controlled_a:mug_left_of_table.png:0", Q,
             (mug("to the left of"), mug("under"), mug("on"), mug("to the right of")), mug("to the left of"),
             category="left_of"),
        Item("whatsup", "controlled_a:mug_right_of_table.png:0", Q,
             (mug("under"), mug("to the left of"), mug("on"), mug("to the right of")), mug("to the right of"),
             category="right_of"),
        Item("whatsup", "controlled_b:cube_in-front_of_sphere.png:0", Q,
             (cube("to the left of"), cube("behind"), cube("to the right of"), cube("in front of")),
             cube("in front of"), category="in-front_of"),
        Item("whatsup", "controlled_b:cube_behind_sphere.png:0", Q,
             (cube("to the left of"), cube("to the right of"), cube("behind"), cube("in front of")), cube("behind"),
             category="behind"),
    ]
    items = [whatsup.to_item(row) for row in rows()]
    assert items == expected
    assert [item.gold_letters for item in items] == [("D",), ("C",), ("A",), ("D",), ("D",), ("C",)]


def test_images_are_rgb_pil_images():
    [image] = whatsup.images(rows()[0])
    assert image.mode == "RGB" and image.size == (64, 64)
    assert whatsup.images({"image": None}) == []


def test_docs_build_with_the_adapter_registered(monkeypatch):
    import lmms_robust.benchmarks as registry
    from lmms_robust.harness.docs import build_docs

    monkeypatch.setitem(registry.BENCHMARKS, "whatsup", whatsup)
    monkeypatch.setitem(registry.ADAPTERS, "whatsup", whatsup.to_item)
    monkeypatch.setitem(registry.IMAGE_FIELDS, "whatsup", whatsup.IMAGE_FIELD)
    dataset = fixture_module("whatsup").dataset()
    for variant in ("base", "misleadcap", "wrongthink_abstain"):
        assert build_docs(dataset, "whatsup", variant)["lr_item_id"] == dataset["id"]


# --- the option order ----------------------------------------------------------------------------------------------

def _synthetic(k: int) -> dict:
    subject, reference = f"object{k}", f"thing{k % 7}"
    captions = [f"A {subject} {p} a {reference}" for p in ("on", "under", "to the left of", "to the right of")]
    return {"id": f"controlled_a:{subject}_on_{reference}.jpeg:0", "image_path": f"data/x/{subject}.jpeg",
            "caption_options": captions, "image": "<image>"}


def test_order_is_deterministic_and_spreads_the_gold_over_every_letter():
    counts = {letter: 0 for letter in LETTERS[:4]}
    for k in range(200):
        row = _synthetic(k)
        item = whatsup.to_item(row)
        assert item == whatsup.to_item(dict(row))  # same row, same item
        assert item.answer == row["caption_options"][0] and sorted(item.options) == sorted(row["caption_options"])
        [gold] = item.gold_letters
        counts[gold] += 1
    assert all(count > 0 for count in counts.values()), counts
    assert all(count >= 30 for count in counts.values()), counts  # roughly uniform: 50 each expected


def test_order_depends_on_the_id_and_texts_not_on_the_release_order():
    row = _synthetic(3)
    shuffled = row["caption_options"][:1] + random.Random(1).sample(row["caption_options"][1:], 3)
    assert whatsup.to_item({**row, "caption_options": shuffled}) == whatsup.to_item(row)
    orders = {whatsup.to_item({**row, "id": f"controlled_a:x{k}.jpeg:0"}).options for k in range(40)}
    assert len(orders) > 10


def test_keyed_order_is_a_permutation():
    values = ["a", "b", "c", "d", "e"]
    assert sorted(whatsup.keyed_order("k", values)) == values
    assert whatsup.keyed_order("k", values) == whatsup.keyed_order("k", list(reversed(values)))


@pytest.mark.parametrize("path, relation", [
    ("data/controlled_images/beer-bottle_on_armchair.jpeg", "on"),
    ("data/controlled_images/mug_under_table.jpeg", "under"),
    ("data/controlled_images/lemon_left_of_plate.jpeg", "left_of"),
    ("data/controlled_clevr/cube_right_of_sphere.jpeg", "right_of"),
    ("data/controlled_clevr/cube_in-front_of_sphere.jpeg", "in-front_of"),
    ("data/controlled_clevr/cube_behind_sphere.jpeg", "behind"),
    ("somewhere/picture.jpeg", None),
])
def test_relation_from_the_file_name(path, relation):
    assert whatsup.relation(path) == relation


# --- bad rows ------------------------------------------------------------------------------------------------------

def _without(row: dict, field: str) -> dict:
    return {key: value for key, value in row.items() if key != field}


BAD = [
    (lambda r: _without(r, "caption_options"), "missing field"),
    (lambda r: _without(r, "image_path"), "missing field"),
    (lambda r: {**r, "caption_options": None}, "null"),
    (lambda r: {**r, "caption_options": ["A mug on a table"]}, "1 caption option(s)"),
    (lambda r: {**r, "caption_options": []}, "0 caption option(s)"),
    (lambda r: {**r, "caption_options": "A mug on a table"}, "must be a list"),
    (lambda r: {**r, "caption_options": ["A mug on a table", " ", "A mug under a table"]}, "position(s) [1] are empty"),
    (lambda r: {**r, "caption_options": [None, "A mug under a table"]}, "position(s) [0] are empty"),
    (lambda r: {**r, "image": None}, "no image"),
]


@pytest.mark.parametrize("edit, words", BAD)
def test_bad_rows_are_errors_naming_the_item(edit, words):
    row = edit({**fixture_module("whatsup").ROWS[0], "image": "<image>"})
    with pytest.raises(ItemError, match="controlled_a:mug_on_table.png:0") as error:
        whatsup.to_item(row)
    assert words in str(error.value)


def test_row_without_id_is_an_error():
    with pytest.raises(ItemError, match="no id"):
        whatsup.to_item({**_without(fixture_module("whatsup").ROWS[0], "id"), "image": "<image>"})


# --- load_release on a fake release folder -------------------------------------------------------------------------

def _png(path: Path, index: int, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_image(index, size).save(path, format="PNG")


A = [
    {"image_path": "data/controlled_images/mug_on_table.png",
     "caption_options": ["A mug on a table", "A mug under a table", "A mug to the left of a table",
                         "A mug to the right of a table"]},
    {"image_path": "data/controlled_images/mug_under_table.png",
     "caption_options": ["A mug under a table", "A mug on a table", "A mug to the left of a table",
                         "A mug to the right of a table"]},
]
B = [
    {"image_path": "data/controlled_clevr/cube_behind_sphere.png",
     "caption_options": ["A cube behind a sphere", "A cube in front of a sphere", "A cube to the left of a sphere",
                         "A cube to the right of a sphere"]},
]


def release(root: Path) -> Path:
    """The layout of the authors' data folder: both JSON files next to the two image folders."""
    root.mkdir(parents=True)
    (root / "controlled_images_dataset.json").write_text(json.dumps(A))
    (root / "controlled_clevr_dataset.json").write_text(json.dumps(B))
    _png(root / "controlled_images" / "mug_on_table.png", 0, 40)
    _png(root / "controlled_images" / "mug_under_table.png", 1, 41)
    _png(root / "controlled_clevr" / "cube_behind_sphere.png", 2, 42)
    return root


def test_load_release_builds_our_row_schema(tmp_path):
    dataset = whatsup.load_release(release(tmp_path / "data"))
    assert dataset.features == whatsup.features()
    assert dataset["id"] == ["controlled_a:mug_on_table.png:0", "controlled_a:mug_under_table.png:0",
                             "controlled_b:cube_behind_sphere.png:0"]
    assert dataset["subset"] == ["controlled_a", "controlled_a", "controlled_b"]
    assert dataset["caption_options"] == [A[0]["caption_options"], A[1]["caption_options"], B[0]["caption_options"]]
    assert [row["image"].size for row in dataset] == [(40, 40), (41, 41), (42, 42)]
    items = [whatsup.to_item(row) for row in dataset]
    assert [item.answer for item in items] == ["A mug on a table", "A mug under a table", "A cube behind a sphere"]
    assert [item.category for item in items] == ["on", "under", "behind"]


def test_load_release_resolves_the_repository_layout_and_an_image_dir(tmp_path):
    # JSON under <repo>/data and the images under <repo>/data/<folder>: the image_path as written, from the repo root
    repo = tmp_path / "whatsup_vlms"
    release(repo / "data")
    assert len(whatsup.load_release(repo)) == 3
    # images somewhere else, in their folders
    images = tmp_path / "elsewhere"
    images.mkdir()
    for folder in ("controlled_images", "controlled_clevr"):
        (repo / "data" / folder).rename(images / folder)
    assert len(whatsup.load_release(repo, image_dir=images)) == 3


def test_load_release_can_take_one_subset(tmp_path):
    dataset = whatsup.load_release(release(tmp_path / "data"), subsets=("controlled_b",))
    assert dataset["id"] == ["controlled_b:cube_behind_sphere.png:0"]
    with pytest.raises(ValueError, match="unknown WhatsUp subset"):
        whatsup.load_release(tmp_path / "data", subsets=("coco_qa_one_obj",))


def test_load_release_names_a_missing_file(tmp_path):
    root = release(tmp_path / "data")
    (root / "controlled_clevr_dataset.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"controlled_clevr_dataset.json not found.*Google Drive"):
        whatsup.load_release(root)


def test_load_release_names_a_missing_image(tmp_path):
    root = release(tmp_path / "data")
    (root / "controlled_images" / "mug_under_table.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"'controlled_a:mug_under_table.png:0'.*controlled_images/mug_under"):
        whatsup.load_release(root)


def test_load_release_names_malformed_records(tmp_path):
    root = release(tmp_path / "data")
    (root / "controlled_images_dataset.json").write_text(json.dumps([{"image_path": "x.png"}]))
    with pytest.raises(ValueError, match=r"record 0.*lacks \['caption_options'\]"):
        whatsup.load_release(root)
    (root / "controlled_images_dataset.json").write_text(json.dumps([{**A[0], "caption_options": "A mug"}]))
    with pytest.raises(ValueError, match=r"'controlled_a:mug_on_table.png:0'.*not a list"):
        whatsup.load_release(root)


@pytest.mark.e2e
def test_release_to_run_through_the_cli(tmp_path):
    """load-release -> localize -> lmms-eval: the documented path for a set that is not on the hub."""
    from lmms_robust.cli import main
    from lmms_robust.results import task_metrics
    from tests.harness.conftest import run_lmms_eval, write_replay

    assert main(["load-release", "whatsup", str(release(tmp_path / "data")), str(tmp_path / "copy")]) == 0
    assert main(["localize", "--benchmark", "whatsup", "--data", str(tmp_path / "copy"), "--out",
                 str(tmp_path / "tasks")]) == 0
    first = whatsup.to_item(next(iter(whatsup.load_release(tmp_path / "data"))))
    replay = write_replay(tmp_path / "replay.jsonl", [
        {"task": "whatsup_base", "item_id": first.item_id, "response": f"<answer>{first.gold_letters[0]}</answer>"}])
    run = run_lmms_eval(tmp_path / "out", "robust_replay", f"path={replay},missing=empty", "whatsup_base",
                        tmp_path / "tasks", cwd=tmp_path)
    assert task_metrics(run.results, "whatsup_base")["acc"] == pytest.approx(1 / 3), run.log[-2000:]
    assert main(["load-release", "whatsup", str(tmp_path / "nowhere"), str(tmp_path / "copy2")]) == 2
