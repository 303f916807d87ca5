"""Two replayed "models" through the real lmms-eval CLI, then ``lmms-robust report``: numbers by hand.

The sample (lmms_robust.testing.sample): s1 MC4 gold B; s2 MC2 gold B; s3 integer 7; s4 float 3.5 cm; s5 MC5 gold
"blue" = A and C; s6 integer 12; s7 MC3 gold C; s8 list [2, 5] (not perturbed: not_applicable in every variant
but base). Wrong targets at seed 0: s1 C, s2 A, s3 6, s4 3.6, s5 B, s6 13, s7 B.
"""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from lmms_robust.report import bootstrap_ci
from tests.harness.conftest import write_replay

pytestmark = pytest.mark.e2e

ALPHA = {  # model A: base, wrongthink, misleadcap
    "mathvista_base": {
        "s1": "<think>The green bar is tallest, so the answer is (B).</think><answer>B</answer>",  # correct
        "s2": "<think>The circle is on the right. So the answer is (B).</think><answer>A</answer>",  # wrong
        "s3": "<think>I count 7 dots, so the answer is 7.</think><answer>7</answer>",  # correct
        "s4": "<think>It measures about 3.5 cm. Therefore the answer is 3.5.</think><answer>3.5 cm</answer>",  # correct
        "s5": "<think>It is blue, so the answer is (A).</think><answer>C</answer>",  # correct (C is blue too)
        "s6": "<think>Hard to say.</think><answer>12</answer>",  # correct
        "s7": "no idea",  # unparsed: wrong
        "s8": "<answer>[2, 5]</answer>",  # correct
    },
    "mathvista_wrongthink": {  # continuations of the prefilled rationale for the wrong target
        "s1": "</think><answer>C</answer>",  # wrong
        # recovers: correct
        "s2": " But looking again, the circle is on the right, so the answer is (B).</think><answer>B</answer>",
        "s3": "</think><answer>7</answer>",  # correct
        "s4": "</think><answer>3.6</answer>",  # wrong
        "s5": "</think><answer>A</answer>",  # correct
        "s6": "</think>",  # unparsed: wrong
        "s7": "</think><answer>B</answer>",  # wrong
        "s8": "</think><answer>[2, 5]</answer>",  # not applicable
    },
    "mathvista_misleadcap": {
        "s1": "<think>The caption says red, so the answer is (C).</think><answer>C</answer>",  # wrong
        "s2": "<answer>B</answer>",  # correct
        "s3": "<answer>7</answer>",  # correct
        "s4": "<answer>3.5</answer>",  # correct
        "s5": "<answer>B</answer>",  # wrong
        "s6": "<answer>12</answer>",  # correct
        "s7": "<answer>C</answer>",  # correct
        "s8": "<answer>[2, 5]</answer>",  # not applicable
    },
}
ALPHA_LETTERS = {  # recorded letter distributions on base (multiple-choice items)
    "s1": {"A": 0.05, "B": 0.6, "C": 0.3, "D": 0.05},
    "s2": {"A": 0.7, "B": 0.3},
    "s5": {"A": 0.5, "B": 0.05, "C": 0.4, "D": 0.03, "E": 0.02},
    "s7": {"A": 0.2, "B": 0.3, "C": 0.5},
}
BETA = {  # model B: base and wrongthink only (misleadcap missing)
    "mathvista_base": {
        "s1": "<think>So the answer is (B).</think><answer>B</answer>",
        "s2": "<think>So the answer is (B).</think><answer>B</answer>",
        "s3": "<think>So the answer is 7.</think><answer>7</answer>",
        "s4": "<think>So the answer is 3.5.</think><answer>3.5</answer>",
        "s5": "<think>So the answer is (A).</think><answer>A</answer>",
        "s6": "<think>So the answer is 12.</think><answer>12</answer>",
        "s7": "<think>So the answer is (C).</think><answer>C</answer>",
        "s8": "<answer>[2, 5]</answer>",
    },
    "mathvista_wrongthink": {
        "s1": "</think><answer>C</answer>",  # wrong, consistent with the prefix
        "s2": "</think><answer>B</answer>",  # correct, inconsistent (stubborn expert)
        "s3": "</think><answer>6</answer>",  # wrong, consistent
        "s4": "</think><answer>3.5</answer>",  # correct, inconsistent
        "s5": "</think><answer>B</answer>",  # wrong, consistent
        "s6": "</think><answer>13</answer>",  # wrong, consistent
        "s7": "</think><answer>C</answer>",  # correct, inconsistent
        "s8": "</think>",  # not applicable
    },
}


def replay_rows(script: dict, letters: dict | None = None) -> list[dict]:
    rows = []
    for task, responses in script.items():
        for item_id, response in responses.items():
            row = {"task": task, "item_id": item_id, "response": response}
            if letters and task == "mathvista_base" and item_id in letters:
                row["letters"] = {"raw": letters[item_id], "forced": False}
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def report_dir(work, local_tasks, lmms_eval_runner):
    def run(name, script, letters):
        replay = write_replay(work / f"{name}.jsonl", replay_rows(script, letters))
        output = work / f"report_run_{name}"
        completed = lmms_eval_runner(output, "robust_replay", f"path={replay}", ",".join(script), local_tasks)
        assert list(output.rglob("*_results.json")), completed.log[-3000:]
        return output

    with ThreadPoolExecutor(2) as pool:  # two independent lmms-eval subprocesses
        runs = list(pool.map(run, ("alpha", "beta"), (ALPHA, BETA), (ALPHA_LETTERS, None)))
    out = work / "report_out"
    completed = subprocess.run([sys.executable, "-m", "lmms_robust.cli", "report", *map(str, runs), "-o", str(out)],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split()[:4] == [str(out / n) for n in ("report.md", "report.csv", "leaderboard.json",
                                                                  "report.html")]
    return out


@pytest.fixture(scope="module")
def rows(report_dir) -> dict:
    with open(report_dir / "report.csv", newline="") as handle:
        return {(r["model"], r["variant"]): r for r in csv.DictReader(handle)}


def number(row: dict, key: str) -> float | None:
    return None if row[key] == "" else float(row[key])


EXPECTED = {
    ("alpha.jsonl", "base"): dict(acc=6 / 8, n_items=8, n_scored=8, consistency=4 / 5, consistent_acc=4 / 8),
    ("alpha.jsonl", "wrongthink"): dict(
        acc=3 / 7, n_items=8, n_scored=7, n_not_applicable=1, n_paired=7, paired_acc_base=5 / 7,
        paired_acc_variant=3 / 7, drop=2 / 7, n_base_correct=5, n_base_wrong=2, flip_correct_to_wrong=3 / 5,
        flip_wrong_to_correct=1 / 2),
    ("alpha.jsonl", "misleadcap"): dict(
        acc=5 / 7, n_paired=7, drop=0.0, flip_correct_to_wrong=2 / 5, flip_wrong_to_correct=1.0),
    ("beta.jsonl", "base"): dict(acc=1.0, n_items=8, drop=None),
    ("beta.jsonl", "wrongthink"): dict(
        acc=3 / 7, n_paired=7, drop=4 / 7, flip_correct_to_wrong=4 / 7, flip_wrong_to_correct=None,
        n_base_wrong=0, consistency=4 / 7, consistent_acc=0.0, q_inconsistent_correct=3 / 7,
        q_consistent_incorrect=4 / 7),
}
PAIRED_DIFFS = {  # base - variant correctness over s1..s7 (sorted item_id)
    ("alpha.jsonl", "wrongthink"): [1, -1, 0, 1, 0, 1, 0],
    ("alpha.jsonl", "misleadcap"): [1, -1, 0, 0, 1, 0, -1],
    ("beta.jsonl", "wrongthink"): [1, 0, 1, 0, 1, 1, 0],
}


def test_csv_has_one_row_per_model_and_variant(rows):
    assert sorted(rows) == sorted(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_csv_numbers_equal_hand_computed(rows, key):
    for name, expected in EXPECTED[key].items():
        got = number(rows[key], name)
        if expected is None:
            assert got is None, (key, name, got)
        else:
            assert got == pytest.approx(expected), (key, name, got)


@pytest.mark.parametrize("key", sorted(PAIRED_DIFFS))
def test_drop_ci_is_the_seed_0_bootstrap_over_paired_items(rows, key):
    low, high = bootstrap_ci(PAIRED_DIFFS[key])
    assert (number(rows[key], "drop_ci_low"), number(rows[key], "drop_ci_high")) == (low, high)
    assert low <= number(rows[key], "drop") <= high


def test_the_missing_variant_and_not_applicable_items_are_reported(report_dir):
    document = json.loads((report_dir / "leaderboard.json").read_text())
    missing = [(w["model"], w["variant"]) for w in document["warnings"] if w["kind"] == "missing_variant"]
    assert missing == [("beta.jsonl", "misleadcap")]
    not_applicable = {(w["model"], w["variant"]): w["item_ids"] for w in document["warnings"]
                      if w["kind"] == "not_applicable"}
    assert not_applicable == {("alpha.jsonl", "wrongthink"): ["s8"], ("alpha.jsonl", "misleadcap"): ["s8"],
                              ("beta.jsonl", "wrongthink"): ["s8"]}
    entry = document["entries"][0]
    assert entry["protocol"]["seed"] == 0 and entry["perturbation_file_sha256"] is None
    assert entry["model_backend"] == "robust_replay" and entry["model_source"].endswith(".jsonl")


def test_html_embeds_the_plots(report_dir):
    page = (report_dir / "report.html").read_text()
    pngs = sorted(p.name for p in report_dir.glob("*.png"))
    assert pngs[:2] == ["mathvista_accuracy.png", "mathvista_quadrants.png"]
    assert page.count("data:image/png;base64,") == len(pngs)


def test_auroc_from_recorded_letter_distributions(rows):
    base = rows[("alpha.jsonl", "base")]
    assert number(base, "p_correct") == pytest.approx((0.6 + 0.3 + 0.9 + 0.5) / 4)
    wrongthink = rows[("alpha.jsonl", "wrongthink")]
    # base-correct multiple choice: s1 (P 0.6, still correct: no) and s5 (P 0.9: yes) -> 1.0
    assert number(wrongthink, "n_auroc_p_correct") == 2 and number(wrongthink, "auroc_p_correct") == 1.0
    entropy = {k: -sum(p * math.log(p) for p in v.values()) for k, v in ALPHA_LETTERS.items()}
    assert entropy["s5"] > entropy["s1"]  # the flatter s5 stays correct: -H ranks it lower -> 0.0
    assert number(wrongthink, "auroc_neg_entropy") == 0.0
    misleadcap = rows[("alpha.jsonl", "misleadcap")]  # s1 and s5 both flip: one class
    assert number(misleadcap, "n_auroc_p_correct") == 2 and number(misleadcap, "auroc_p_correct") is None
    beta = rows[("beta.jsonl", "wrongthink")]
    assert number(beta, "n_auroc_p_correct") == 0 and number(beta, "auroc_p_correct") is None
