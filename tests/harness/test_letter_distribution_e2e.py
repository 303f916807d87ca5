"""Letter entropy, p_correct, ECE and Brier through the real CLI, on a tiny model whose logits are fixed.

The model's every next-token logit is constant (``control_logits``): <|im_end|> 10, A 3, B 2, C 1, D 0, "Ġ" 1,
all else -20. So it answers nothing (end of turn first) and the forced answer position sees the same
distribution as every other. With this tokenizer "<answer>L" ends in the token L and "<answer> L" in "Ġ", L; a
letter's raw mass is p(L)·(1 + p(Ġ)), and renormalised over an item's letters it is ∝ e^logit(L).
Items (lmms_robust.testing.sample): s1 A-D gold B; s2 A-B gold B; s5 A-E gold A and C; s7 A-C gold C.
"""

from __future__ import annotations

import math

import pytest

from lmms_robust.results import load_samples, task_metrics
from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

pytestmark = pytest.mark.e2e

LOGITS = {"<|im_end|>": 10.0, "A": 3.0, "B": 2.0, "C": 1.0, "D": 0.0, "Ġ": 1.0}
E = math.exp


def renorm(letters: str) -> dict[str, float]:
    weights = {letter: E(LOGITS.get(letter, -20.0)) for letter in letters}
    total = sum(weights.values())
    return {letter: w / total for letter, w in weights.items()}


def entropy(p: dict[str, float]) -> float:
    return -sum(v * math.log(v) for v in p.values() if v > 0)


ARGS = "device=cpu,device_map=cpu,dtype=float32,max_new_tokens=4"


@pytest.fixture(scope="module")
def controlled_model(work):
    return build_tiny_qwen25vl(work / "tiny-controlled", token_logits=LOGITS)


@pytest.fixture(scope="module")
def letter_run(work, controlled_model, local_tasks, lmms_eval_runner):
    return lmms_eval_runner(work / "out_letters", "qwen2_5_vl_robust", f"pretrained={controlled_model},{ARGS}",
                            "mathvista_base,mathvista_wrongthink", local_tasks,
                            extra=["--use_cache", str(work / "response_cache")])


def test_per_item_distribution_matches_the_fixed_logits(letter_run):
    records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(letter_run.output, "mathvista_base")}
    expected = {"s1": renorm("ABCD"), "s2": renorm("AB"), "s5": renorm("ABCDE"), "s7": renorm("ABC")}
    for item_id, probs in expected.items():
        record = records[item_id]
        assert record["letter_probs"] == pytest.approx(probs, abs=1e-6), item_id
        assert record["letter_forced"] is True  # the model wrote no <answer>
        assert record["letter_entropy"] == pytest.approx(entropy(probs), abs=1e-6)
    assert records["s1"]["p_correct"] == pytest.approx(expected["s1"]["B"], abs=1e-6)
    assert records["s5"]["p_correct"] == pytest.approx(expected["s5"]["A"] + expected["s5"]["C"], abs=1e-6)
    # raw mass on A-D for s1: (e^3 + e^2 + e + 1)·(1 + p(Ġ)) / Z over the whole padded vocabulary (448 rows)
    z = E(10) + E(3) + E(2) + E(1) + E(0) + E(1) + (448 - 6) * E(-20)
    p_space = E(1) / z
    assert records["s1"]["letter_mass"] == pytest.approx((E(3) + E(2) + E(1) + E(0)) / z * (1 + p_space), rel=1e-4)
    for free_form in ("s3", "s4", "s6", "s8"):
        assert records[free_form]["letter_probs"] is None  # free-form items are left out


def test_task_metrics_match_hand_computed(letter_run):
    dists = {"s1": (renorm("ABCD"), "B"), "s2": (renorm("AB"), "B"), "s5": (renorm("ABCDE"), "AC"),
             "s7": (renorm("ABC"), "C")}
    metrics = task_metrics(letter_run.results, "mathvista_base")
    assert metrics["letter_entropy"] == pytest.approx(sum(entropy(p) for p, _ in dists.values()) / 4, abs=1e-6)
    assert metrics["letter_entropy_norm"] == pytest.approx(
        sum(entropy(p) / math.log(len(p)) for p, _ in dists.values()) / 4, abs=1e-6)
    assert metrics["p_correct"] == pytest.approx(
        sum(sum(p[g] for g in gold) for p, gold in dists.values()) / 4, abs=1e-6)
    brier = [(sum(p[g] for g in gold) - 1) ** 2 + sum(v * v for k, v in p.items() if k not in gold)
             for p, gold in dists.values()]
    assert metrics["brier"] == pytest.approx(sum(brier) / 4, abs=1e-6)
    # argmax is A everywhere: right only for s5. Confidences: s1 0.6439 and s5 0.6439 and s7 0.6652 share the bin
    # [9/15, 10/15); s2 0.7311 sits in [10/15, 11/15).
    c1, c2, c7 = dists["s1"][0]["A"], dists["s2"][0]["A"], dists["s7"][0]["A"]
    c5 = dists["s5"][0]["A"]
    assert 9 / 15 <= min(c1, c5, c7) and max(c1, c5, c7) < 10 / 15 and 10 / 15 <= c2 < 11 / 15
    ece = abs(1 / 3 - (c1 + c5 + c7) / 3) * 3 / 4 + abs(0 - c2) * 1 / 4
    assert metrics["ece"] == pytest.approx(ece, abs=1e-6)


def test_prefilled_variant_reads_the_same_fixed_distribution(letter_run):
    records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(letter_run.output, "mathvista_wrongthink")}
    assert records["s1"]["letter_probs"] == pytest.approx(renorm("ABCD"), abs=1e-6)
    assert records["s1"]["letter_forced"] is True


def test_distribution_survives_lmms_eval_response_cache(work, letter_run, controlled_model, local_tasks,
                                                        lmms_eval_runner):
    cached = lmms_eval_runner(work / "out_letters_cached", "qwen2_5_vl_robust",
                              f"pretrained={controlled_model},{ARGS}", "mathvista_base", local_tasks,
                              extra=["--use_cache", str(work / "response_cache")])
    # lmms-eval caches non-empty responses only; ours never are (the trailer says how each generation ended), so
    # all 8 items hit, the free-form ones that answered "" included
    assert "8 hits" in cached.log
    assert task_metrics(cached.results, "mathvista_base") == task_metrics(letter_run.results, "mathvista_base")
