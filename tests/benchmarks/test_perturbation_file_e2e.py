"""A perturbation file through the real lmms-eval CLI: its text reaches the prompt records, its SHA-256 the
results file (configs.<task>.process_docs)."""

from __future__ import annotations

import hashlib
import json

import pytest

from lmms_robust.localize import localize
from lmms_robust.results import load_samples
from lmms_robust.testing.fixtures import write_fixture
from tests.harness.conftest import run_lmms_eval, write_replay

pytestmark = pytest.mark.e2e

# CV-Bench fixture: idx 0 Count gold B, 1 Relation gold A, 2 Depth gold B, 3 Distance gold A, 4 Count gold E.
ROWS = [
    {"benchmark": "cv_bench", "item_id": "0", "target": "A", "caption": "Three cars are parked along the kerb.",
     "rationale": "I count three cars along the kerb, so the answer is (A)."},
    {"benchmark": "cv_bench", "item_id": "1", "target": "B", "caption": "The lamp stands to the right of the sofa.",
     "rationale": "The lamp is past the sofa's right arm, so the answer is (B)."},
    {"benchmark": "cv_bench", "item_id": "2", "target": "A", "caption": "The chair is nearer to the camera.",
     "rationale": "The chair overlaps the table, so the answer is (A)."},
    {"benchmark": "cv_bench", "item_id": "3", "target": "B", "caption": "The pillow lies right next to the lamp.",
     "rationale": "The pillow touches the lamp's base, so the answer is (B)."},
    {"benchmark": "cv_bench", "item_id": "4", "target": "C", "caption": "Two organs stand against the wall.",
     "rationale": "I see two organs, so the answer is (C)."},
]


def test_file_text_and_hash_reach_records_and_results(tmp_path):
    tasks = localize("cv_bench", write_fixture("cv_bench", tmp_path / "data"), tmp_path / "tasks")
    path = tmp_path / "cv_bench_perturbations.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    replay = write_replay(tmp_path / "replay.jsonl", [{"task": "cv_bench_wrongthink", "item_id": "0",
                                                       "response": "</think><answer>A</answer>"}])
    run = run_lmms_eval(tmp_path / "out", "robust_replay", f"path={replay},missing=empty",
                        "cv_bench_misleadcap,cv_bench_wrongthink,cv_bench_truecap,cv_bench_base", tasks,
                        env={"LMMS_ROBUST_PERTURBATIONS": str(path)}, cwd=tmp_path)
    assert (tmp_path / "out").exists(), run.log[-3000:]
    configs = run.results["configs"]
    for task in ("cv_bench_misleadcap", "cv_bench_wrongthink", "cv_bench_truecap"):
        assert configs[task]["process_docs"].endswith(f"(seed=0; perturbations=file {path} sha256:{sha})"), task
    assert configs["cv_bench_base"]["process_docs"].endswith("(seed=0; perturbations=none in this variant)")
    captions = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "cv_bench_misleadcap")}
    assert [captions[row["item_id"]]["caption"] for row in ROWS] == [row["caption"] for row in ROWS]
    assert [captions[row["item_id"]]["target"] for row in ROWS] == ["A", "B", "A", "B", "C"]
    think = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "cv_bench_wrongthink")}
    assert think["0"]["prefill"] == "<think>" + ROWS[0]["rationale"]
    assert think["0"]["cot_conclusion"] == "A" and think["0"]["answer"] == "A" and think["0"]["correct"] is False
    truecap = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "cv_bench_truecap")}
    assert truecap["0"]["target"] == "B"  # the file has no gold rows: the controls keep the generator
