"""One of the paper's benchmarks through our backend on the tiny random-weight Qwen2.5-VL: MME-RealWorld-Lite
(five options A-E, so the abstain option is F; base64 images decoded by lmms-eval's own loader)."""

from __future__ import annotations

import pytest

from lmms_robust.core.perturb import VARIANT_NAMES
from lmms_robust.core.scoring import METRICS
from lmms_robust.localize import localize
from lmms_robust.results import load_samples, task_metrics
from lmms_robust.testing.fixtures import write_fixture

from .test_tiny_model_e2e import TINY_ARGS

pytestmark = pytest.mark.e2e
IDS = sorted(["perception/monitoring/vehicle/counting/0475", "Reasoning/Autonomous_Driving/Prediction_Intention_Ego/0045",
              "Perception/Autonomous_Driving/Attribute_Motion_Vehicle/0146", "perception/ocr_cc/text_recog/0863"])
"""The fixture's ids (MME-RealWorld-Lite's own); 0045 has six marks as released and five options once repaired."""


@pytest.fixture(scope="module")
def mme_run(work, tiny_model, lmms_eval_runner):
    tasks = localize("mme_realworld_lite", write_fixture("mme_realworld_lite", work / "mme_data"), work / "mme_tasks")
    return lmms_eval_runner(work / "out_tiny_mme", "qwen2_5_vl_robust",
                            f"pretrained={tiny_model},{TINY_ARGS},letter_probs=true", "mme_realworld_lite_robust", tasks)


def test_every_variant_runs_with_all_metrics(mme_run):
    for variant in VARIANT_NAMES:
        task = f"mme_realworld_lite_{variant}"
        metrics = task_metrics(mme_run.results, task)
        assert set(METRICS) <= set(metrics), (task, mme_run.log[-2000:])
        assert mme_run.results["n-samples"][task]["effective"] == 4
        records = sorted((s["acc"] for s in load_samples(mme_run.output, task)), key=lambda r: r["item_id"])
        assert [r["item_id"] for r in records] == IDS


def test_letter_distribution_covers_the_five_letters_and_the_abstain_letter(mme_run):
    base = [s["acc"] for s in load_samples(mme_run.output, "mme_realworld_lite_base")]
    abstain = [s["acc"] for s in load_samples(mme_run.output, "mme_realworld_lite_abstain")]
    assert all(sorted(r["letter_probs"]) == list("ABCDE") for r in base)
    assert all(sorted(r["letter_probs"]) == list("ABCDEF") and r["abstain_letter"] == "F" for r in abstain)
    for record in base + abstain:
        assert sum(record["letter_probs"].values()) == pytest.approx(1.0)
        assert 0.0 < record["letter_mass"] <= 1.0 + 1e-6
