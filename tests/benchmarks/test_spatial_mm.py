"""Spatial-MM Obj and Multihop: fixture rows -> Items, option/answer parsing, the built multihop options, the
release loaders on fake release folders (the published JSON schema + PNGs), and bad input naming the item."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from lmms_robust.benchmarks import spatial_mm, spatial_mm_multihop, spatial_mm_obj
from lmms_robust.core.items import LETTERS, Item, ItemError
from lmms_robust.testing.fixtures import fixture_module
from lmms_robust.testing.sample import draw_image

OBJ, HOP = "spatial_mm_obj", "spatial_mm_multihop"


def rows(benchmark: str) -> list[dict]:
    return list(fixture_module(benchmark).dataset())


# --- fixture rows -> Items ---------------------------------------------------------------------------------------

def test_obj_fixture_rows_become_the_expected_items():
    expected = [
        Item(OBJ, "one_obj:f5633987f7.jpg:0", "Where is dog located from camera's perspective?",
             ("left", "right", "behind", "top left"), "right", category="one_obj"),
        Item(OBJ, "one_obj:8ecb499a6a.jpg:0", "Is the man on the left from camera's perspective?", ("yes", "no"),
             "yes", category="one_obj"),
        Item(OBJ, "one_obj:8ecb499a6a.jpg:1", "Which direction is the man facing from camera's perspective?",
             ("right", "behind", "top", "left"), "left", category="one_obj"),
        Item(OBJ, "two_obj:75a3568a9a.jpg:0", "In which hand is the man holding the glass?", ("left", "right"),
             "right", category="two_obj"),
        Item(OBJ, "two_obj:e8cb158dd7.jpg:0", "Is there a painting on the right of the desk from camera's perspective?",
             ("yes", "no"), "yes", category="two_obj"),
    ]
    items = [spatial_mm_obj.to_item(row) for row in rows(OBJ)]
    assert items == expected
    assert [item.gold_letters for item in items] == [("B",), ("A",), ("D",), ("B",), ("A",)]


def test_multihop_fixture_rows_become_the_expected_items():
    expected = [
        Item(HOP, "multihop:c3f0f58a57.jpg:0", "Is the red traffic light in front of the people?", ("no", "yes"),
             "yes", category="2-hop"),
        Item(HOP, "multihop:a87df479a2.jpeg:0", "what color is the garment worn by the person sitting to the left from "
             "the camera's perspective?", ("orange", "yellow", "black", "pink"), "pink", category="3-hop"),
        Item(HOP, "multihop:beanie01.jpg:0", "What pattern is on the beanie worn by the child closest to the camera?",
             ("polka-dotted", "striped", "floral", "plain"), "striped", category="3-hop"),
        Item(HOP, "multihop:c9f8f895fb.jpg:0", "where is the woman has lettuce in her hand from the other woman's "
             "perspective?", ("right back", "left back", "left front", "right front"), "left back", category="5-hop"),
        Item(HOP, "multihop:img_parrot_f.png:0", "What item is hanging to the right of the bird?",
             ("bell", "telephone", "plant", "guitar"), "bell", category="2-hop"),
        Item(HOP, "multihop:kid_toy01.jpg:0", "Which hand is the kid using to touch the orange toy?", ("left", "right"),
             "right", category="3-hop"),
    ]
    items = [spatial_mm_multihop.to_item(row) for row in rows(HOP)]
    assert items == expected
    assert [item.gold_letters for item in items] == [("B",), ("D",), ("B",), ("B",), ("A",), ("B",)]


def test_fixture_options_are_what_build_options_writes():
    for row in fixture_module(HOP).ROWS:
        built = spatial_mm_multihop.build_options(row["id"], row["answer"], fixture_module(HOP).POOL, row["question"])
        assert built == (row["answer_kind"], row["options"])


def test_images_are_rgb_pil_images():
    for module, benchmark in ((spatial_mm_obj, OBJ), (spatial_mm_multihop, HOP)):
        [image] = module.images(rows(benchmark)[0])
        assert image.mode == "RGB" and image.size == (64, 64)
        assert module.images({**rows(benchmark)[0], "image": None}) == []


def test_docs_build_with_the_adapters_registered(monkeypatch):
    """The harness path: build_docs reads the image column as nulls only and hands to_item the placeholder."""
    import lmms_robust.benchmarks as registry
    from lmms_robust.harness.docs import build_docs

    for module in (spatial_mm_obj, spatial_mm_multihop):
        monkeypatch.setitem(registry.BENCHMARKS, module.BENCHMARK, module)
        monkeypatch.setitem(registry.ADAPTERS, module.BENCHMARK, module.to_item)
        monkeypatch.setitem(registry.IMAGE_FIELDS, module.BENCHMARK, module.IMAGE_FIELD)
        dataset = fixture_module(module.BENCHMARK).dataset()
        for variant in ("base", "misleadcap", "wrongthink_abstain"):
            docs = build_docs(dataset, module.BENCHMARK, variant)
            assert docs["lr_item_id"] == dataset["id"]


# --- parsing the release's question and answer ---------------------------------------------------------------------

def test_split_options_takes_the_trailing_lettered_lines():
    stem, options = spatial_mm.split_options(OBJ, "x", "Where is it?\nSecond line.\nA. left\nB. right\nC. top\n\n")
    assert stem == "Where is it?\nSecond line." and options == ("left", "right", "top")
    assert spatial_mm.split_options(OBJ, "x", "Q?\n(A) on\n(B) under") == ("Q?", ("on", "under"))
    stem, options = spatial_mm.split_options(OBJ, "x", "Where is the tablet from camera\u2019s perspective??\nA. below"
                                                       "\nB. front\nC. back\nD. top")
    assert stem.endswith("perspective??") and options == ("below", "front", "back", "top")


@pytest.mark.parametrize("answer, gold, conflict", [
    ("B. right", "right", False),
    ("B", "right", False),
    ("(B)", "right", False),
    ("right", "right", False),
    ("  Right ", "right", False),
    ("C. far left", "top", False),  # text not an option: the letter decides
])
def test_gold_option(answer, gold, conflict):
    assert spatial_mm.gold_option(OBJ, "x", answer, ("middle", "right", "top", "bottom")) == (gold, None)


def test_an_answer_whose_letter_and_text_disagree_has_no_gold_and_says_why():
    # the release's "C. middle" where C is "left" (one_obj:b2a8fdeff0.jpg:0): either reading would be a guess
    gold, conflict = spatial_mm.gold_option(OBJ, "x", "C. middle", ("middle", "bottom", "left", "right"))
    assert gold is None
    assert conflict == "answer 'C. middle': its letter C is the option 'left' but its text is the option 'middle', " \
                       "so the gold is unknown"
    row = {**fixture_module(OBJ).ROWS[0], "question": "Where is the steering wheel located from camera's perspective?"
           "\nA. middle\nB. bottom\nC. left\nD. right", "answer": "C. middle", "image": "<image>"}
    item = spatial_mm_obj.to_item(row)
    assert item.defect == conflict and item.gold_letters == ()


def test_gold_that_is_neither_letter_nor_text_names_the_item():
    with pytest.raises(ItemError, match=r"'one_obj:a.jpg:0'.*'E. far'"):
        spatial_mm.gold_option(OBJ, "one_obj:a.jpg:0", "E. far", ("left", "right", "top", "bottom"))


def test_record_ids_count_questions_per_image():
    assert spatial_mm.record_ids("one_obj", ["a.jpg", "b.jpg", "a.jpg", "a.jpg"]) == [
        "one_obj:a.jpg:0", "one_obj:b.jpg:0", "one_obj:a.jpg:1", "one_obj:a.jpg:2"]


# --- bad rows ------------------------------------------------------------------------------------------------------

def _without(row: dict, field: str) -> dict:
    return {key: value for key, value in row.items() if key != field}


OBJ_BAD = [
    (lambda r: _without(r, "answer"), "missing field"),
    (lambda r: {**r, "question": None}, "null"),
    (lambda r: {**r, "question": "A. left\nB. right"}, "empty question"),
    (lambda r: {**r, "question": "Where?\nA. left"}, "1 option line"),
    (lambda r: {**r, "question": "Where?"}, "0 option line"),
    (lambda r: {**r, "question": "Where?\nA. left\nC. right"}, "not A, B, C"),
    (lambda r: {**r, "question": "Where?\nA. left\nB. "}, "no text"),
    (lambda r: {**r, "answer": "E. far"}, "neither an option's text nor one of the letters"),
    (lambda r: {**r, "answer": ""}, "neither an option's text"),
    (lambda r: {**r, "image": None}, "no image"),
]


@pytest.mark.parametrize("edit, words", OBJ_BAD)
def test_bad_obj_rows_are_errors_naming_the_item(edit, words):
    row = edit({**fixture_module(OBJ).ROWS[0], "image": "<image>"})
    with pytest.raises(ItemError, match="one_obj:f5633987f7.jpg:0") as error:
        spatial_mm_obj.to_item(row)
    assert words in str(error.value)


def test_obj_row_without_id_is_an_error():
    with pytest.raises(ItemError, match="no id"):
        spatial_mm_obj.to_item({**_without(fixture_module(OBJ).ROWS[0], "id"), "image": "<image>"})


HOP_BAD = [
    (lambda r: _without(r, "options"), "missing field"),
    (lambda r: {**r, "options": []}, "0 option(s)"),
    (lambda r: {**r, "options": ["left"]}, "1 option(s)"),
    (lambda r: {**r, "options": "left,right"}, "must be a list"),
    (lambda r: {**r, "options": ["left", None]}, "empty"),
    (lambda r: {**r, "answer": "behind"}, "not among the options"),
    (lambda r: {**r, "answer": "  "}, "empty answer"),
    (lambda r: {**r, "question": " "}, "empty question"),
    (lambda r: {**r, "image": None}, "no image"),
]


@pytest.mark.parametrize("edit, words", HOP_BAD)
def test_bad_multihop_rows_are_errors_naming_the_item(edit, words):
    row = edit({**fixture_module(HOP).ROWS[1], "image": "<image>"})
    with pytest.raises(ItemError, match="multihop:a87df479a2.jpeg:0") as error:
        spatial_mm_multihop.to_item(row)
    assert words in str(error.value)


# --- the multihop options we build ---------------------------------------------------------------------------------

@pytest.mark.parametrize("answer, kind", [
    ("yes", "yes_no"), ("No", "yes_no"), ("female", "gender"), ("2", "number"), ("left", "relation"),
    ("in front", "relation"), ("left back", "relation"), ("top left", "relation"), ("between", "relation"),
    ("red", "color"), ("black and white", "color"), ("light brown", "color"), ("golden", "color"),
    ("man", "person"), ("mobile phone", "object"), ("regal", "object"), ("strawberries", "fruit"),
    ("orange juice", "drink"), ("oysters", "food"), ("striped", "object"),  # a pattern only when the question asks
])
def test_answer_kind(answer, kind):
    assert spatial_mm_multihop.answer_kind(answer) == kind


@pytest.mark.parametrize("question, answer, kind", [
    ("What pattern is on the beanie worn by the child closest to the camera?", "striped", "pattern"),
    ("what is the material of the object beneath the ball?", "wood", "material"),
    ("which word is written on the mug that is positioned behind and to the left?", "regal", "text"),
    ("which key on the keyboard is closest to the yellow sticky note on its top-left?", "esc", "key"),
    ("Which hand is the kid using to touch the orange toy?", "right", "side"),
    ("what is the item to the right of the milk bottle close to the woman's hand?", "glass", "object"),
    ("what is the beverage in the glass behind the pancakes?", "orange juice", "drink"),
])
def test_the_question_names_the_kind_of_its_answer(question, answer, kind):
    assert spatial_mm_multihop.answer_kind(answer, question) == kind


def test_distractors_are_of_the_golds_kind():
    # rule v1 gave "What pattern is on the beanie?" the options {glass of milk, pomegranate, mango, striped}
    pool = [("glass of milk", "What is on the counter?"), ("pomegranate", "what is the object to the right?"),
            ("mango", "what type of fruit is in front?"), ("guitar", "what item is on the floor?")]
    for k in range(20):
        kind, options = spatial_mm_multihop.build_options(f"m:{k}:0", "striped", pool, "What pattern is on the "
                                                          "beanie?")
        assert kind == "pattern" and set(options) <= set(spatial_mm_multihop.VOCABULARIES["pattern"])
        kind, options = spatial_mm_multihop.build_options(f"m:{k}:0", "right", pool, "Which hand is the kid using?")
        assert kind == "side" and sorted(options) == ["left", "right"]
        kind, options = spatial_mm_multihop.build_options(f"m:{k}:0", "telephone", pool, "what is the yellow object?")
        assert kind == "object" and sorted(options) == ["guitar", "telephone"]  # the fruit and the drink are not
    with pytest.raises(ValueError, match="no distractor"):  # ... so with only off-kind answers around there is none
        spatial_mm_multihop.build_options("m:x:0", "telephone", pool[:3], "what is the yellow object?")


SINGLE_DIRECTIONS = ["left", "right", "front", "behind", "back", "top", "bottom", "above", "below", "under", "over",
                     "on", "middle", "between", "inside", "outside"]


@pytest.mark.parametrize("answer", SINGLE_DIRECTIONS)
def test_relation_distractors_never_name_the_gold_direction(answer):
    directions = spatial_mm_multihop._directions
    for k in range(20):
        kind, options = spatial_mm_multihop.build_options(f"multihop:{k}.jpg:0", answer)
        assert kind == "relation" and len(options) == 4 and answer in options
        for option in options:
            if option != answer:
                assert not (directions(option) & directions(answer)), (answer, option)


def test_two_direction_answers_get_two_direction_distractors_that_flip_one_or_both():
    _, options = spatial_mm_multihop.build_options("multihop:a.jpg:0", "left back")
    assert sorted(options) == ["left back", "left front", "right back", "right front"]
    _, options = spatial_mm_multihop.build_options("multihop:a.jpg:0", "front middle")
    assert "front middle" in options and len(options) == 4
    assert all(len(option.split()) == 2 for option in options)


def test_colour_distractors_exclude_what_the_answer_names_or_resembles():
    for k in range(30):
        _, options = spatial_mm_multihop.build_options(f"multihop:{k}.jpg:0", "golden")
        assert not {"yellow", "orange", "brown"} & set(options)
        _, options = spatial_mm_multihop.build_options(f"multihop:{k}.jpg:0", "black and white")
        assert len(options) == 4 and all(" and " in option for option in options)
        assert not any({"black", "white"} & set(option.split()) for option in options if option != "black and white")
        _, options = spatial_mm_multihop.build_options(f"multihop:{k}.jpg:0", "grey")
        assert "gray" not in options


def test_two_valued_kinds_get_two_options_and_numbers_stay_natural():
    assert sorted(spatial_mm_multihop.build_options("m:a:0", "yes")[1]) == ["no", "yes"]
    assert sorted(spatial_mm_multihop.build_options("m:a:0", "female")[1]) == ["female", "male"]
    kind, options = spatial_mm_multihop.build_options("m:a:0", "0")
    assert kind == "number" and len(options) == 4 and all(int(option) >= 0 for option in options)


def test_object_distractors_come_from_the_release_and_share_no_word():
    pool = ["glass of milk", "laptop", "guitar", "man", "telephone", "wine bottle"]
    for k in range(30):
        kind, options = spatial_mm_multihop.build_options(f"m:{k}:0", "glass", pool)
        assert kind == "object" and len(options) == 4 and "glass" in options
        assert not {"glass of milk", "man"} & set(options)
    assert len(spatial_mm_multihop.build_options("m:a:0", "glass", ["laptop"])[1]) == 2
    with pytest.raises(ValueError, match="'m:a:0'.*no distractor"):
        spatial_mm_multihop.build_options("m:a:0", "glass", [])


def test_built_options_are_deterministic_and_spread_the_gold_over_the_letters():
    golds = {letter: 0 for letter in LETTERS[:4]}
    for k in range(200):
        item_id = f"multihop:img{k}.jpg:0"
        first = spatial_mm_multihop.build_options(item_id, "left")
        assert first == spatial_mm_multihop.build_options(item_id, "left")
        golds[LETTERS[first[1].index("left")]] += 1
    assert all(count >= 25 for count in golds.values()), golds


# --- load_release on fake release folders --------------------------------------------------------------------------

def _png(path: Path, index: int, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_image(index, size).save(path, format="PNG")


ONE_OBJ = [
    {"image_name": "aa.png", "question": "Where is the cat located from camera's perspective?\nA. left\nB. right"
                                         "\nC. behind\nD. top left", "answer": "B. right", "object1": "cat",
     "object2": ""},
    {"image_name": "bb.png", "question": "Is the dog on the left from camera's perspective?\nA. yes\nB. no",
     "answer": "B. no", "object1": "dog", "object2": ""},
    {"image_name": "aa.png", "question": "Which direction is the cat facing from camera's perspective?\nA. middle"
                                         "\nB. bottom\nC. left\nD. right", "answer": "C. middle", "object1": "cat",
     "object2": ""},
]
TWO_OBJ = [
    {"image_name": "cc.png", "question": "In which hand is the man holding the glass?\nA. left\nB. right",
     "answer": "B. right", "object1": "man", "object2": "glass"},
]
MULTIHOP = [
    {"image_name": "m1.png", "question": "Is the lighter horse behind the darker horse?", "answer": "no",
     "reasoning": "{[lighter horse is closer], [lighter horse is in front]}", "hop": 2},
    {"image_name": "m2.png", "question": "what is the item to the right of the milk bottle?", "answer": "glass",
     "reasoning": "{[glass right of milk bottle]}", "hop": 2},
    {"image_name": "m2.png", "question": "what object is on the right of the laptop?", "answer": "mobile phone",
     "reasoning": "{[laptop is open], [mobile phone right of laptop]}", "hop": "3"},
    {"image_name": "m3.png", "question": "what color is the mug behind the macarons?", "answer": "purple",
     "reasoning": "{[mug is purple], [mug behind macarons]}", "hop": 2},
    {"image_name": "m3.png", "question": "where is the cup in relation to the plate?", "answer": "right bottom",
     "reasoning": "{[cup below plate], [cup right of plate]}", "hop": 5},
]


def obj_release(root: Path, images_in: str = "Spatial_MM_Obj") -> Path:
    """As the GitHub repository has them: one_obj at the top, two_obj under data/; the images in their folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "spatial_mm_one_obj.json").write_text(json.dumps(ONE_OBJ, indent=4))
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "spatial_mm_two_obj.json").write_text(json.dumps(TWO_OBJ, indent=4))
    for index, name in enumerate(["aa.png", "bb.png", "cc.png"]):
        _png(root / images_in / name, index, size=40 + index)
    return root


def test_obj_load_release_builds_our_row_schema(tmp_path):
    release = obj_release(tmp_path / "release")
    with pytest.warns(UserWarning, match=r"1 answer\(s\).*one_obj:aa.png:1"):
        dataset = spatial_mm_obj.load_release(release)
    assert dataset.features == spatial_mm_obj.features()
    assert dataset["id"] == ["one_obj:aa.png:0", "one_obj:bb.png:0", "one_obj:aa.png:1", "two_obj:cc.png:0"]
    assert dataset["subset"] == ["one_obj", "one_obj", "one_obj", "two_obj"]
    assert dataset["object2"] == ["", "", "", "glass"]
    assert [dataset[i]["image"].size for i in range(4)] == [(40, 40), (41, 41), (40, 40), (42, 42)]
    items = [spatial_mm_obj.to_item(row) for row in dataset]
    assert [item.answer for item in items] == ["right", "no", "", "right"]  # "C. middle", C = left: no gold
    assert [item.gold_letters for item in items] == [("B",), ("B",), (), ("B",)]
    assert items[2].defect.startswith("answer 'C. middle': its letter C is the option 'left'")


def test_obj_load_release_survives_save_and_move(tmp_path):
    import datasets

    release = obj_release(tmp_path / "release")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = spatial_mm_obj.load_release(release)
    datasets.DatasetDict({spatial_mm_obj.SPLIT: dataset}).save_to_disk(str(tmp_path / "saved"))
    import shutil

    shutil.rmtree(release)  # the images are embedded, not referenced
    loaded = datasets.load_from_disk(str(tmp_path / "saved"))["test"]
    assert loaded[3]["image"].size == (42, 42)


def test_obj_load_release_with_an_explicit_image_dir(tmp_path):
    release = obj_release(tmp_path / "release", images_in="../pictures")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(spatial_mm_obj.load_release(release, image_dir=tmp_path / "pictures")) == 4
    with pytest.raises(FileNotFoundError, match=r"'one_obj:aa.png:0'.*release/Spatial_MM_Obj/aa.png.*image_dir="):
        spatial_mm_obj.load_release(release)  # the default search does not reach ../pictures


def test_obj_load_release_names_a_missing_file(tmp_path):
    release = obj_release(tmp_path / "release")
    (release / "data" / "spatial_mm_two_obj.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"spatial_mm_two_obj.json not found.*release/data"):
        spatial_mm_obj.load_release(release)


def test_obj_load_release_names_a_missing_image(tmp_path):
    release = obj_release(tmp_path / "release")
    (release / "Spatial_MM_Obj" / "cc.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"'two_obj:cc.png:0'.*Spatial_MM_Obj/cc.png"):
        spatial_mm_obj.load_release(release)


def test_obj_load_release_names_a_broken_image(tmp_path):
    release = obj_release(tmp_path / "release")
    (release / "Spatial_MM_Obj" / "bb.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"'one_obj:bb.png:0'.*cannot be decoded"):
        spatial_mm_obj.load_release(release)


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ('{"image_name": "aa.png"}', "expected a JSON list"),
    ('[{"image_name": "aa.png", "question": "Q?\\nA. a\\nB. b"}]', r"record 0 \(image 'aa.png'\) lacks \['answer'\]"),
    ('["aa.png"]', "record 0 is str"),
])
def test_obj_load_release_names_a_malformed_release_file(tmp_path, content, words):
    release = obj_release(tmp_path / "release")
    (release / "spatial_mm_one_obj.json").write_text(content)
    with pytest.raises(ValueError, match=words):
        spatial_mm_obj.load_release(release)


def multihop_release(root: Path) -> tuple[Path, Path]:
    (root / "data").mkdir(parents=True)
    (root / "data" / spatial_mm_multihop.RELEASE_FILE).write_text(json.dumps(MULTIHOP, indent=2))
    for index, name in enumerate(["m1.png", "m2.png", "m3.png"]):
        _png(root.parent / "cot_images" / name, index)
    return root, root.parent / "cot_images"


def test_multihop_load_release_builds_options(tmp_path):
    release, images = multihop_release(tmp_path / "release")
    dataset = spatial_mm_multihop.load_release(release, image_dir=images)
    assert dataset.features == spatial_mm_multihop.features()
    assert dataset["id"] == ["multihop:m1.png:0", "multihop:m2.png:0", "multihop:m2.png:1", "multihop:m3.png:0",
                             "multihop:m3.png:1"]
    assert dataset["hop"] == [2, 2, 3, 2, 5]
    assert dataset["answer_kind"] == ["yes_no", "object", "object", "color", "relation"]
    assert set(dataset["options_rule"]) == {spatial_mm_multihop.OPTIONS_RULE}
    options = dataset["options"]
    assert sorted(options[0]) == ["no", "yes"]
    assert sorted(options[1]) == ["glass", "mobile phone"] and sorted(options[2]) == ["glass", "mobile phone"]
    assert len(options[3]) == 4 and len(options[4]) == 4
    items = [spatial_mm_multihop.to_item(row) for row in dataset]
    assert [item.category for item in items] == ["2-hop", "2-hop", "3-hop", "2-hop", "5-hop"]
    assert [item.answer for item in items] == ["no", "glass", "mobile phone", "purple", "right bottom"]
    again = spatial_mm_multihop.load_release(release, image_dir=images)
    assert again["options"] == options


def test_multihop_record_without_answer_gets_no_options_and_to_item_names_it(tmp_path):
    release, images = multihop_release(tmp_path / "release")
    records = [*MULTIHOP, {"image_name": "m1.png", "question": "Where is the horse?", "answer": None, "hop": 2}]
    (release / "data" / spatial_mm_multihop.RELEASE_FILE).write_text(json.dumps(records))
    dataset = spatial_mm_multihop.load_release(release, image_dir=images)
    assert dataset[5]["options"] == [] and dataset[5]["reasoning"] is None
    with pytest.raises(ItemError, match="multihop:m1.png:1"):
        spatial_mm_multihop.to_item(dataset[5])


def test_multihop_load_release_errors_name_the_path_or_item(tmp_path):
    release, images = multihop_release(tmp_path / "release")
    with pytest.raises(FileNotFoundError, match=r"'multihop:m1.png:0'.*m1.png"):
        spatial_mm_multihop.load_release(release)  # the images are elsewhere
    records = [{**MULTIHOP[0], "hop": "two"}]
    (release / "data" / spatial_mm_multihop.RELEASE_FILE).write_text(json.dumps(records))
    with pytest.raises(ValueError, match=r"'multihop:m1.png:0'.*hop 'two'"):
        spatial_mm_multihop.load_release(release, image_dir=images)
    (release / "data" / spatial_mm_multihop.RELEASE_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="multihop_reasoning_309.json not found"):
        spatial_mm_multihop.load_release(release, image_dir=images)
