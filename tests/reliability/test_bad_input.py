"""Bad input, one class per test: each is a clear error naming the item (or file line) and the fix, or is kept,
counted and reported; never guessed.

Covered elsewhere (not repeated here):
- a prefill variant on a backend that cannot continue a prefix:
  tests/harness/test_discovery_and_refusal.py::test_prefill_variant_on_a_backend_that_cannot_continue_is_refused
- a checkpoint of the wrong architecture:
  tests/harness/test_backend.py::test_wrong_architecture_is_refused_naming_the_fix
- a replay file without a response for a requested item:
  tests/harness/test_discovery_and_refusal.py::test_missing_replay_response_is_an_error_naming_the_item
Perturbation files: format errors here and in tests/core/test_perturbation_file.py.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from lmms_robust.core.items import ItemError
from lmms_robust.harness.docs import build_docs
from lmms_robust.localize import localize
from lmms_robust.models.replay import ReplayError, load_responses

from .conftest import ROOT, mathvista_dataset

ROWS = [
    dict(pid="p1", question="Which bar is tallest?", choices=["red", "green", "blue"], answer="green",
         question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="p2", question="How many dots?", choices=None, answer="7", question_type="free_form",
         answer_type="integer", unit=None, precision=None),
    dict(pid="p3", question="Length in cm, one decimal?", choices=None, answer="3.5", question_type="free_form",
         answer_type="float", unit="cm", precision=1.0),
]


def rows_with(target: str, **changes) -> list[dict]:
    return [{**row, **changes} if row["pid"] == target else dict(row) for row in ROWS]


def build(dataset, variant: str = "base"):
    return build_docs(dataset, "mathvista", variant)


# ------------------------------------------------------------------------------------ dataset, at build_docs


@pytest.mark.parametrize("damage, missing", [
    (lambda ds: ds.remove_columns(["choices"]), "choices"),
    (lambda ds: ds.rename_column("answer", "gold"), "answer"),  # a renamed field is a missing one
    (lambda ds: ds.remove_columns(["question_type"]), "question_type"),
])
def test_a_missing_or_renamed_field_names_the_item_the_field_and_the_schema(damage, missing):
    with pytest.raises(ItemError) as err:
        build(damage(mathvista_dataset(ROWS)))
    message = str(err.value)
    assert f"mathvista item 'p1': missing field(s) ['{missing}']" in message
    assert "a local copy must keep MathVista's schema" in message


def test_a_missing_image_column_names_the_column_and_the_schema():
    with pytest.raises(ItemError, match=r"no 'decoded_image' column .* a local copy must keep the benchmark's schema"):
        build(mathvista_dataset(ROWS).remove_columns(["decoded_image"]))


@pytest.mark.parametrize("field, value, expected", [
    ("question", None, "field(s) ['question'] are null; fill them in or drop the row"),
    ("answer", None, "field(s) ['answer'] are null; fill them in or drop the row"),
    ("choices", ["red", None, "blue"], "choice(s) at position(s) [1] are null; fill them in or drop the row"),
])
def test_a_null_field_is_an_error_not_the_text_none(field, value, expected):
    # regression: str(None) used to become the question, the gold answer or an option: "None"
    changes = {field: value, "answer": "red"} if field == "choices" else {field: value}
    with pytest.raises(ItemError) as err:
        build(mathvista_dataset(rows_with("p1", **changes)))
    assert str(err.value).startswith("mathvista item 'p1': ") and expected in str(err.value)


@pytest.mark.parametrize("choices, expected", [
    (["green"], "a multiple-choice item needs at least 2 options, got 1; fix its choices or drop the row"),
    ([], "multi_choice item without choices; give it its choices or drop the row"),
    (None, "multi_choice item without choices; give it its choices or drop the row"),
])
def test_fewer_than_two_options_names_the_item_and_the_fix(choices, expected):
    with pytest.raises(ItemError) as err:
        build(mathvista_dataset(rows_with("p1", choices=choices)))
    assert str(err.value).startswith("mathvista item 'p1': ") and expected in str(err.value)


def test_more_options_than_letters_names_the_item_and_the_fix():
    choices = [f"value {i}" for i in range(27)]
    with pytest.raises(ItemError, match=r"mathvista item 'p1': 27 options exceed the 26 letters A-Z; drop the row"):
        build(mathvista_dataset(rows_with("p1", choices=choices, answer="value 3")))


def test_twenty_six_options_fit_and_abstain_is_counted_not_applicable_not_guessed():
    choices = [f"value {i}" for i in range(26)]
    docs = build(mathvista_dataset(rows_with("p1", choices=choices, answer="value 3")), "abstain")
    assert len(docs) == len(ROWS)  # kept: left out of the metrics and counted as not_applicable
    p1 = json.loads(docs["lr_perturbation"][0])
    assert (p1["applicable"], p1["abstain_letter"]) == (False, None)
    assert "no letter left for the abstain option after 26 options" in p1["reason"]


@pytest.mark.parametrize("question", ["", "   \n\t"])
def test_an_empty_question_names_the_item_and_the_fix(question):
    with pytest.raises(ItemError, match=r"mathvista item 'p2': empty question; fix or drop the row in the dataset"):
        build(mathvista_dataset(rows_with("p2", question=question)))


def test_a_missing_image_names_the_item_and_the_fix():
    with pytest.raises(ItemError, match=r"mathvista item 'p3': no image in 'decoded_image'; every item needs its "
                                        r"image: restore it or drop the row"):
        build(mathvista_dataset(ROWS, no_image=("p3",)))


def test_an_unknown_variant_names_the_valid_ones_and_a_close_match_before_any_row_is_read():
    with pytest.raises(ValueError, match=r"unknown variant 'misleadcapp'\. Did you mean 'misleadcap'\? Valid "
                                         r"variants: base, stopthink"):
        build(mathvista_dataset(ROWS), "misleadcapp")
    with pytest.raises(ValueError, match=r"unknown benchmark 'mathvistaa'; known: \[.*'mathvista'.*\]"):
        build_docs(mathvista_dataset(ROWS), "mathvistaa", "base")


@pytest.mark.parametrize("pid, changes, expected", [
    ("p1", dict(answer="purple"), "gold answer 'purple' is not among the options ['red', 'green', 'blue']; fix the "
                                  "answer or the choices, or drop the row"),
    ("p2", dict(pid="p1"), "item id 'p1' occurs twice; ids must be unique to pair variants"),
    ("p2", dict(question_type="open"), "question_type 'open' is neither multi_choice nor free_form"),
    ("p2", dict(answer_type="fraction"), "unknown answer_type 'fraction'"),
    ("p3", dict(precision=1.5), "precision 1.5 is not a whole number of decimal places; fix it or drop the row"),
])
def test_other_malformed_rows_name_the_item(pid, changes, expected):
    with pytest.raises(ItemError) as err:
        build(mathvista_dataset(rows_with(pid, **changes)))
    assert expected in str(err.value)


def test_a_nan_precision_is_a_missing_precision():
    # pandas writes a null float as NaN; the float item then takes the decimals written in its gold
    docs = build(mathvista_dataset(rows_with("p3", precision=float("nan"))), "misleadcap")
    assert json.loads(docs["lr_perturbation"][2])["target"] in ("3.4", "3.6")


# ------------------------------------------------------------------------------------------- corrupt replay


def replay_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "replay.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return path


GOOD = json.dumps({"task": "mathvista_base", "item_id": "p1", "response": "<answer>B</answer>"})


@pytest.mark.parametrize("bad, expected", [
    ('{"task": "mathvista_base", "item_id": "p2", "response": "7"', r"replay\.jsonl:2: not JSON"),
    ("<answer>B</answer>", r"replay\.jsonl:2: not JSON"),
    ('["mathvista_base", "p2", "7"]', r"replay\.jsonl:2: each line needs 'task', 'response' and 'item_id'"),
    ('{"task": "mathvista_base", "item_id": "p2"}', r"replay\.jsonl:2: each line needs 'task', 'response'"),
    ('{"item_id": "p2", "response": "7"}', r"replay\.jsonl:2: each line needs 'task', 'response'"),
    ('{"task": "mathvista_base", "response": "7"}', r"replay\.jsonl:2: no 'item_id' or 'doc_id'"),
    ('{"task": "mathvista_base", "item_id": "p2", "response": 7}', r"replay\.jsonl:2: 'response' must be a string"),
    (GOOD.replace("<answer>B</answer>", "<answer>C</answer>"),
     r"replay\.jsonl:2: a second response for task 'mathvista_base' item_id=p1"),
])
def test_a_corrupt_replay_line_is_an_error_naming_the_file_line(tmp_path, bad, expected):
    with pytest.raises(ReplayError, match=expected):
        load_responses(replay_file(tmp_path, [GOOD, bad]))


def test_a_replay_line_with_a_duplicate_json_key_is_an_error(tmp_path):
    line = ('{"task": "mathvista_base", "item_id": "p1", "response": "<answer>A</answer>", '
            '"response": "<answer>B</answer>"}')
    with pytest.raises(ReplayError, match=r"replay\.jsonl:1"):
        load_responses(replay_file(tmp_path, [line]))


# ---------------------------------------------------------------------------------- through the real CLI


def saved(dataset, out: Path) -> Path:
    import datasets

    datasets.DatasetDict({"testmini": dataset}).save_to_disk(str(out))
    return out


def run_cli(tmp_path: Path, dataset, tasks: str = "mathvista_base", replay_lines: list[str] | None = None):
    from tests.harness.conftest import run_lmms_eval

    tasks_dir = localize("mathvista", saved(dataset, tmp_path / "data"), tmp_path / "tasks")
    lines = replay_lines or [json.dumps({"task": task, "item_id": row["pid"], "response": "<answer>A</answer>"})
                             for task in tasks.split(",") for row in ROWS]
    replay = replay_file(tmp_path, lines)
    return run_lmms_eval(tmp_path / "out", "robust_replay", f"path={replay}", tasks, tasks_dir, timeout=300)


def no_results(tmp_path: Path) -> bool:
    return not list((tmp_path / "out").rglob("*_results.json"))


@pytest.mark.e2e
@pytest.mark.slow  # through the real CLI (~20 s); the unit tests above check the same error; `-m slow` runs it
def test_cli_a_renamed_field_stops_the_run_with_the_item_and_the_fix_in_the_log(tmp_path):
    run = run_cli(tmp_path, mathvista_dataset(ROWS).rename_column("answer", "gold"))
    assert "mathvista item 'p1': missing field(s) ['answer']; a local copy must keep MathVista's schema" in run.log
    assert no_results(tmp_path)  # lmms-eval exits 0 even so: nothing may be scored


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("case", ["no_image", "one_option", "empty_question", "null_answer"])
def test_cli_other_dataset_classes_stop_the_run_with_the_item_and_the_fix_in_the_log(tmp_path, case):
    dataset, expected = {
        "no_image": (mathvista_dataset(ROWS, no_image=("p3",)), "mathvista item 'p3': no image in 'decoded_image'"),
        "one_option": (mathvista_dataset(rows_with("p1", choices=["green"])),
                       "mathvista item 'p1': a multiple-choice item needs at least 2 options, got 1; fix its choices"),
        "empty_question": (mathvista_dataset(rows_with("p2", question=" ")), "mathvista item 'p2': empty question"),
        "null_answer": (mathvista_dataset(rows_with("p2", answer=None)),
                        "mathvista item 'p2': field(s) ['answer'] are null"),
    }[case]
    run = run_cli(tmp_path, dataset)
    assert expected in run.log
    assert no_results(tmp_path)


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_a_corrupt_replay_file_stops_the_run_naming_the_line(tmp_path):
    run = run_cli(tmp_path, mathvista_dataset(ROWS), replay_lines=[GOOD, "not json"])
    assert "replay.jsonl:2: not JSON" in run.log
    assert no_results(tmp_path)


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_an_unknown_variant_task_is_not_found_and_nothing_runs(tmp_path):
    run = run_cli(tmp_path, mathvista_dataset(ROWS), tasks="mathvista_misleadcapp")
    assert "Tasks not found: mathvista_misleadcapp" in run.log
    assert no_results(tmp_path)


# ------------------------------------------------------------------------------------------------- elsewhere


@pytest.mark.parametrize("path, name", [
    ("tests/harness/test_discovery_and_refusal.py",
     "test_prefill_variant_on_a_backend_that_cannot_continue_is_refused"),
    ("tests/harness/test_backend.py", "test_wrong_architecture_is_refused_naming_the_fix"),
    ("tests/harness/test_discovery_and_refusal.py", "test_missing_replay_response_is_an_error_naming_the_item"),
])
def test_the_classes_covered_elsewhere_are_still_tested_there(path, name):
    tree = ast.parse((ROOT / path).read_text())
    assert name in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}, (path, name)


# ------------------------------------------------------------------------------------------ perturbation files

WRONG_ROWS = {  # a wrong target per item (p1 gold B, p2 gold 7, p3 gold 3.5), chosen by hand
    "p1": ("C", "(C)"), "p2": ("8", "8"), "p3": ("3.4", "3.4"),
}


def perturbation_lines(**overrides) -> list[str]:
    lines = []
    for pid, (target, said) in WRONG_ROWS.items():
        row = {"benchmark": "mathvista", "item_id": pid, "target": target, "caption": f"A caption for {pid}.",
               "rationale": f"I read it off the figure, so the answer is {said}."}
        row.update(overrides.get(pid, {}))
        lines.append(json.dumps(row))
    return lines


def build_with_file(tmp_path, lines: list[str], variant: str = "misleadcap"):
    from lmms_robust.core.perturbation_file import load_perturbation_file

    path = tmp_path / "perturbations.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return build_docs(mathvista_dataset(ROWS), "mathvista", variant, source=load_perturbation_file(path))


@pytest.mark.parametrize("lines, expected", [
    (lambda: perturbation_lines()[:2] + ["{broken"], "perturbations.jsonl, line 3: not JSON"),
    (lambda: perturbation_lines(p2={"caption": ""}), "line 2: 'caption' must be a non-empty string"),
    (lambda: perturbation_lines()[:2], "1 mathvista item(s) have no 'wrong' row (e.g. ['p3'])"),
    (lambda: perturbation_lines(p3={"item_id": "p9"}), "name mathvista items that are not in this split"),
    (lambda: perturbation_lines(p1={"target": "F"}), "line 1 (mathvista item 'p1', kind 'wrong'): target 'F' is not "
                                                     "one of the item's letters"),
    (lambda: perturbation_lines(p1={"target": "B", "rationale": "so the answer is (B)."}),
     "target 'B' is the gold answer"),
    (lambda: perturbation_lines(p2={"rationale": "Hard to say."}), "the rationale concludes None, not the target '8'"),
    (lambda: [line.replace('"mathvista"', '"cv_bench"') for line in perturbation_lines()],
     "has no rows for benchmark 'mathvista'"),
])
def test_a_corrupt_or_mismatched_perturbation_file_names_the_line_or_item_and_the_fix(tmp_path, lines, expected):
    from lmms_robust.core.perturbation_file import PerturbationFileError

    with pytest.raises(PerturbationFileError) as err:
        build_with_file(tmp_path, lines())
    assert expected in str(err.value)


def test_a_good_perturbation_file_is_used_word_for_word(tmp_path):
    docs = build_with_file(tmp_path, perturbation_lines(), variant="wrongthink")
    payloads = {doc["lr_item_id"]: json.loads(doc["lr_perturbation"]) for doc in docs}
    assert payloads["p1"]["target"] == "C"
    assert payloads["p3"]["prefill"] == "<think>I read it off the figure, so the answer is 3.4."


@pytest.mark.e2e
def test_cli_a_mismatched_perturbation_file_stops_the_run_naming_the_item(tmp_path, monkeypatch):
    path = tmp_path / "perturbations.jsonl"
    path.write_text("\n".join(perturbation_lines(p1={"target": "F"})) + "\n")
    monkeypatch.setenv("LMMS_ROBUST_PERTURBATIONS", str(path))
    run = run_cli(tmp_path, mathvista_dataset(ROWS), tasks="mathvista_misleadcap")
    assert "(mathvista item 'p1', kind 'wrong'): target 'F' is not one of the item's letters" in run.log
    assert no_results(tmp_path)
