"""Perturbation files: format errors name the line, mismatches name the item, a good file drives perturb()."""

from __future__ import annotations

import hashlib
import json

import pytest

from lmms_robust.benchmarks import adapter
from lmms_robust.core.perturb import perturb
from lmms_robust.core.perturbation_file import FileGenerator, PerturbationFileError, load_perturbation_file
from lmms_robust.testing.sample import SAMPLE_ROWS

ITEMS = {row["pid"]: adapter("mathvista")({**row, "decoded_image": "<image>"}) for row in SAMPLE_ROWS}
# A wrong target per applicable item (s8 is a list answer: no caption/rationale variants), chosen by hand.
WRONG = {"s1": "D", "s2": "A", "s3": "8", "s4": "3.6", "s5": "E", "s6": "11", "s7": "A"}


def _row(pid: str, target: str | None = None, **extra) -> dict:
    target = target or WRONG[pid]
    commitment = f"({target})" if ITEMS[pid].is_multiple_choice else target
    return {"benchmark": "mathvista", "item_id": pid, "target": target, "caption": f"Caption for {pid}.",
            "rationale": f"I looked closely at {pid}, so the answer is {commitment}.", **extra}


def _write(tmp_path, rows, name="p.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def _full(tmp_path, **kw):
    return load_perturbation_file(_write(tmp_path, [_row(pid) for pid in WRONG], **kw))


def test_a_good_file_supplies_target_caption_and_rationale(tmp_path):
    source = _full(tmp_path)
    assert source.sha256 == hashlib.sha256((tmp_path / "p.jsonl").read_bytes()).hexdigest()
    generator = FileGenerator(source, fallback=None)
    pert = perturb(ITEMS["s1"], "misleadcap_disclaimer", generator=generator)
    assert (pert.target, pert.caption) == ("D", "Caption for s1. But I could be wrong.")
    pert = perturb(ITEMS["s3"], "wrongthink_but", generator=generator)
    assert (pert.target, pert.prefill) == ("8", "<think>I looked closely at s3, so the answer is 8. But")


def test_kinds_the_file_lacks_come_from_the_fallback(tmp_path):
    from lmms_robust.core.perturb import TemplateGenerator

    generator = FileGenerator(_full(tmp_path), fallback=TemplateGenerator())
    pert = perturb(ITEMS["s1"], "truecap", generator=generator)
    assert pert.target == "B" and pert.caption == TemplateGenerator().caption(ITEMS["s1"], "B")


def test_gold_rows_drive_the_controls(tmp_path):
    rows = [_row(pid) for pid in WRONG] + [_row("s1", "B", kind="gold")]
    source = load_perturbation_file(_write(tmp_path, rows))
    pert = perturb(ITEMS["s1"], "truethink", generator=FileGenerator(source, fallback=None))
    assert pert.prefill == "<think>I looked closely at s1, so the answer is (B)."


def test_coverage_accepts_the_exact_split(tmp_path):
    _full(tmp_path).check_coverage("mathvista", {"wrong": set(WRONG)})


@pytest.mark.parametrize("rows, words", [
    (["{not json"], ["line 1", "not JSON"]),
    (["[1, 2]"], ["line 1", "not an object"]),
    ([{"benchmark": "mathvista", "item_id": "s1", "target": "D", "caption": "c"}], ["line 1", "rationale"]),
    ([{**_row("s1"), "captoin": "x"}], ["unknown key", "captoin"]),
    ([{**_row("s1"), "caption": "  "}], ["'caption'", "non-empty"]),
    ([{**_row("s1"), "kind": "true"}], ["kind 'true'"]),
    ([_row("s1"), "", _row("s1")], ["lines 1 and 3", "s1"]),
    ([""], ["no rows"]),
])
def test_malformed_files_name_the_line_and_the_fix(tmp_path, rows, words):
    with pytest.raises(PerturbationFileError) as err:
        load_perturbation_file(_write(tmp_path, rows))
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_unreadable_files_are_clear_errors(tmp_path):
    with pytest.raises(PerturbationFileError, match="does not exist"):
        load_perturbation_file(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe{}")
    with pytest.raises(PerturbationFileError, match="not UTF-8"):
        load_perturbation_file(tmp_path / "bin.jsonl")


@pytest.mark.parametrize("row, words", [
    (_row("s1", "Q"), ["line 1", "'s1'", "not one of the item's letters"]),
    (_row("s1", "B"), ["'s1'", "is the gold answer"]),
    (_row("s3", "7"), ["'s3'", "is the gold answer"]),
    (_row("s1", "B", kind="gold") | {"target": "C", "rationale": "so the answer is (C)."}, ["not the gold answer"]),
    (_row("s1") | {"rationale": "It could be anything."}, ["'s1'", "concludes None", "so the answer is (D)."]),
    (_row("s7") | {"rationale": "so the answer is (B)."}, ["'s7'", "concludes 'B'", "target 'A'"]),
])
def test_mismatched_rows_name_the_item(tmp_path, row, words):
    source = load_perturbation_file(_write(tmp_path, [row]))
    pid = row["item_id"]
    with pytest.raises(PerturbationFileError) as err:
        perturb(ITEMS[pid], "truecap" if row.get("kind") == "gold" else "misleadcap",
                generator=FileGenerator(source, fallback=None))
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_coverage_errors_name_missing_and_foreign_items(tmp_path):
    partial = load_perturbation_file(_write(tmp_path, [_row("s1"), _row("s2")]))
    with pytest.raises(PerturbationFileError, match=r"5 mathvista item\(s\) have no 'wrong' row .*'s3'"):
        partial.check_coverage("mathvista", {"wrong": set(WRONG)})
    foreign = load_perturbation_file(_write(tmp_path, [_row(pid) for pid in WRONG] + [
        {**_row("s1"), "item_id": "999"}], name="foreign.jsonl"))
    with pytest.raises(PerturbationFileError, match=r"name mathvista items that are not in this split .*'999'"):
        foreign.check_coverage("mathvista", {"wrong": set(WRONG)})
    with pytest.raises(PerturbationFileError, match="no rows for benchmark 'cv_bench'"):
        partial.check_coverage("cv_bench", {"wrong": {"0"}})


def test_numeric_ids_name_the_same_item(tmp_path):
    source = load_perturbation_file(_write(tmp_path, [{**_row("s1"), "item_id": 12}]))
    assert ("mathvista", "12", "wrong") in source.entries
