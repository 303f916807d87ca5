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

# CV-Bench fixture: idx 1 Count (six options) gold E, 1004 Relation gold A, 1503 Depth gold B, 2105 Distance gold B,
# 0 Count gold C.
ROWS = [
    {"benchmark": "cv_bench", "item_id": "1", "target": "A", "caption": "Four cushions lie on the sofa.",
     "rationale": "I count four cushions on the sofa, so the answer is (A)."},
    {"benchmark": "cv_bench", "item_id": "1004", "target": "B", "caption": "The light troffer hangs below the stairs.",
     "rationale": "The troffer is under the staircase, so the answer is (B)."},
    {"benchmark": "cv_bench", "item_id": "1503", "target": "A", "caption": "The trailer is nearer to the camera.",
     "rationale": "The trailer overlaps the car, so the answer is (A)."},
    {"benchmark": "cv_bench", "item_id": "2105", "target": "A", "caption": "The bowl sits right next to the microwave.",
     "rationale": "The bowl touches the microwave, so the answer is (A)."},
    {"benchmark": "cv_bench", "item_id": "0", "target": "A", "caption": "Three organs stand against the wall.",
     "rationale": "I see three organs, so the answer is (A)."},
]


def test_file_text_and_hash_reach_records_and_results(tmp_path):
    tasks = localize("cv_bench", write_fixture("cv_bench", tmp_path / "data"), tmp_path / "tasks")
    path = tmp_path / "cv_bench_perturbations.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    replay = write_replay(tmp_path / "replay.jsonl", [{"task": "cv_bench_wrongthink", "item_id": "1",
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
    assert [captions[row["item_id"]]["target"] for row in ROWS] == ["A", "B", "A", "A", "A"]
    think = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "cv_bench_wrongthink")}
    assert think["1"]["prefill"] == "<think>" + ROWS[0]["rationale"]
    assert think["1"]["cot_conclusion"] == "A" and think["1"]["answer"] == "A" and think["1"]["correct"] is False
    truecap = {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, "cv_bench_truecap")}
    assert truecap["1"]["target"] == "E"  # the file has no gold rows: the controls keep the generator
    assert truecap["1"]["caption"] == "There are 6 cushions in the image."
