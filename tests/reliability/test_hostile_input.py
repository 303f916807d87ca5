"""Unclear or silent input made loud (issue 15, points 9 and 10): replay rows that answer nothing or a doc twice,
replay files that are not UTF-8 or hold a lone surrogate, dataset errors that named no item (images, precision),
empty options, release image paths outside the image folder.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from lmms_robust.core.items import ItemError
from lmms_robust.models.replay import ReplayError, check_rows, load_responses, read_responses

from .conftest import mathvista_dataset
from .test_bad_input import ROWS, build, no_results, replay_file, rows_with, run_cli

GOOD = json.dumps({"task": "mathvista_base", "item_id": "p1", "response": "<answer>B</answer>"})


# ------------------------------------------------------------------------------------------------ replay files


def test_a_lone_surrogate_in_a_replay_response_is_an_error_naming_the_line(tmp_path):
    # lmms-eval stops writing samples at such a response and still exits 0; the report then saw 5 of 8 items
    bad = '{"task": "mathvista_base", "item_id": "p2", "response": "<answer>7\\ud800</answer>"}'
    with pytest.raises(ReplayError, match=r"replay\.jsonl:2: key 'response' holds a lone surrogate"):
        load_responses(replay_file(tmp_path, [GOOD, bad]))


def test_a_replay_file_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "replay.jsonl"
    path.write_bytes(GOOD.encode() + b"\n" + GOOD.replace("p1", "p2").encode("latin-1").replace(b"B", b"\xe9") + b"\n")
    with pytest.raises(ReplayError, match=r"replay\.jsonl:2: not UTF-8"):
        load_responses(path)


def test_a_replay_line_with_both_item_id_and_doc_id_is_an_error(tmp_path):
    line = json.dumps({"task": "mathvista_base", "item_id": "p1", "doc_id": 0, "response": "x"})
    with pytest.raises(ReplayError, match=r"replay\.jsonl:1: both 'item_id' and 'doc_id'"):
        load_responses(replay_file(tmp_path, [line]))


@pytest.mark.parametrize("doc_id", ["0", -1, 1.5, True])
def test_a_doc_id_must_be_a_position(tmp_path, doc_id):
    line = json.dumps({"task": "mathvista_base", "doc_id": doc_id, "response": "x"})
    with pytest.raises(ReplayError, match=r"replay\.jsonl:1: 'doc_id' must be a whole number >= 0"):
        load_responses(replay_file(tmp_path, [line]))


def task_dict(tasks=("mathvista_base",)):
    docs = build(mathvista_dataset(ROWS))  # lr_item_id p1, p2, p3 at doc ids 0, 1, 2
    return {task: {"testmini": docs} for task in tasks}


def rows_file(tmp_path, rows: list[dict]) -> Path:
    return replay_file(tmp_path, [json.dumps({"response": "<answer>A</answer>", **row}) for row in rows])


def check(tmp_path, rows, tasks=("mathvista_base",), known=frozenset({"mathvista_base", "mathvista_truecap"})):
    path = rows_file(tmp_path, rows)
    check_rows(read_responses(path), task_dict(tasks), {t: "testmini" for t in tasks}, path, set(known))


def test_rows_for_every_doc_of_the_run_pass(tmp_path):
    check(tmp_path, [{"task": "mathvista_base", "item_id": "p1"}, {"task": "mathvista_base", "item_id": "p2"},
                     {"task": "mathvista_base", "doc_id": 2},
                     {"task": "mathvista_truecap", "item_id": "p1"}])  # a task of ours this run does not use


@pytest.mark.parametrize("rows, expected", [
    ([{"task": "mathvista_base", "item_id": "p1"}, {"task": "mathvista_misleadcaps", "item_id": "p1"}],
     r"replay\.jsonl:2: task 'mathvista_misleadcaps' is neither in this run \(\['mathvista_base'\]\) nor an "
     r"lmms-robust task; fix the task name or remove the row"),
    ([{"task": "mathvista_base", "item_id": "p9"}],
     r"replay\.jsonl:1: task 'mathvista_base' has no item_id 'p9' \(of 3 items\)"),
    ([{"task": "mathvista_base", "doc_id": 3}], r"replay\.jsonl:1: task 'mathvista_base' has no doc_id 3 \(it has 3 "
                                                 r"docs, 0 to 2\)"),
    ([{"task": "mathvista_base", "item_id": "p2"}, {"task": "mathvista_base", "doc_id": 1}],
     r"replay\.jsonl:1 \(item_id=p2\) and .*replay\.jsonl:2 \(doc_id=1\) both answer task 'mathvista_base' doc 1; "
     r"which one was meant is unknowable"),
])
def test_rows_that_answer_no_doc_or_a_doc_twice_are_errors_naming_the_line(tmp_path, rows, expected):
    with pytest.raises(ReplayError, match=expected):
        check(tmp_path, rows)


@pytest.mark.e2e
@pytest.mark.slow  # through the real CLI (~20 s); the unit tests above check the same error; `-m slow` runs it
def test_cli_a_replay_row_for_an_unknown_item_stops_the_run_naming_the_line(tmp_path):
    lines = [json.dumps({"task": "mathvista_base", "item_id": pid, "response": "<answer>A</answer>"})
             for pid in ("p1", "p2", "p3", "p4")]
    run = run_cli(tmp_path, mathvista_dataset(ROWS), replay_lines=lines)
    assert "replay.jsonl:4: task 'mathvista_base' has no item_id 'p4' (of 3 items)" in run.log
    assert no_results(tmp_path)


# --------------------------------------------------------------------------------------------- item validation


def test_an_empty_option_names_the_item_and_the_letter():
    with pytest.raises(ItemError, match=r"mathvista item 'p1': option\(s\) \['B'\] are empty strings; every option "
                                        r"needs its text"):
        build(mathvista_dataset(rows_with("p1", choices=["red", "  ", "green"])))


@pytest.mark.parametrize("precision, answer, expected", [
    (28.0, "3.5", "precision 28 must be a whole number of decimal places from 0 to 15"),
    (40.0, "3.5", "precision 40 must be a whole number of decimal places from 0 to 15"),
    (15.0, "123456789012345.5", "rounded to 15 decimal places needs more than 28 digits"),
])
def test_a_precision_decimal_cannot_hold_names_the_item(precision, answer, expected):
    # regression: decimal.InvalidOperation from the wrong-value draw, naming nothing
    with pytest.raises(ItemError) as err:
        build(mathvista_dataset(rows_with("p3", precision=precision, answer=answer)), "misleadcap")
    assert str(err.value).startswith("mathvista item 'p3': ") and expected in str(err.value)


def test_fifteen_decimals_still_work():
    docs = build(mathvista_dataset(rows_with("p3", precision=15.0, answer="3.5")), "misleadcap")
    assert json.loads(docs["lr_perturbation"][2])["target"] in ("3.500000000000001", "3.499999999999999")


# -------------------------------------------------------------------------------------------------- images


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` pixels (PIL refuses it at open: a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def with_image(kind: str):
    import datasets

    dataset = mathvista_dataset(ROWS)
    raw = dataset.cast_column("decoded_image", datasets.Image(decode=False))
    records = [dict(r) for r in raw]
    if kind == "path string":
        for record in records:
            record["decoded_image"] = "images/p.png"
        features = datasets.Features({**raw.features, "decoded_image": datasets.Value("string")})
        return datasets.Dataset.from_list(records, features=features)
    records[1]["decoded_image"] = {"bytes": b"not an image" if kind == "corrupt" else png_header(30000, 30000),
                                   "path": None}
    return datasets.Dataset.from_list(records, features=raw.features).cast_column("decoded_image", datasets.Image())


def test_fetch_doc_names_the_task_doc_and_item_of_an_image_that_cannot_be_decoded():
    from lmms_robust.harness.docs import fetch_doc

    for kind, error in (("corrupt", "UnidentifiedImageError"), ("bomb", "DecompressionBombError")):
        docs = build(with_image(kind))
        with pytest.raises(ItemError, match=rf"task mathvista_base doc 1 \(item 'p2'\): its image cannot be read "
                                            rf"\({error}: .*re-download or fix that image, or drop the row"):
            fetch_doc({"mathvista_base": {"testmini": docs}}, "mathvista_base", "testmini", 1)
        assert fetch_doc({"mathvista_base": {"testmini": docs}}, "mathvista_base", "testmini", 0)["lr_item_id"] == "p1"


@pytest.mark.e2e
@pytest.mark.parametrize("kind, expected", [
    pytest.param("corrupt", "task mathvista_base doc 1 (item 'p2'): its image cannot be read (UnidentifiedImageError",
                 marks=pytest.mark.slow),
    pytest.param("bomb", "task mathvista_base doc 1 (item 'p2'): its image cannot be read (DecompressionBombError",
                 marks=pytest.mark.slow),
    pytest.param("path string", "task mathvista_base doc 0 (item 'p1'): its image cannot be read (AttributeError: "
                                "'str' object has no attribute 'convert')", marks=pytest.mark.slow),
])
def test_cli_an_unreadable_image_stops_the_run_naming_the_item(tmp_path, kind, expected):
    run = run_cli(tmp_path, with_image(kind))
    assert expected in run.log
    assert no_results(tmp_path)


# ---------------------------------------------------------------------------------------- release image paths


@pytest.mark.parametrize("image_path", ["../../outside.png", "/etc/outside.png", "data/../../outside.png",
                                        "..\\..\\outside.png", "C:\\outside.png"])
def test_load_release_whatsup_never_reads_an_image_outside_the_image_folder(tmp_path, image_path):
    from lmms_robust.benchmarks import whatsup
    from tests.benchmarks.test_whatsup import release

    root = release(tmp_path / "rel" / "data")
    (tmp_path / "outside.png").write_bytes((root / "controlled_images" / "mug_on_table.png").read_bytes())
    records = json.loads((root / "controlled_images_dataset.json").read_text())
    records[0]["image_path"] = image_path
    (root / "controlled_images_dataset.json").write_text(json.dumps(records))
    with pytest.raises(ValueError, match=r"image path .* leaves the image folder \(absolute, or with '\.\.'\)"):
        whatsup.load_release(root, image_dir=root)
