"""The paper's eight benchmarks, every variant, through the real lmms-eval CLI on local fixtures.

One replayed run of the ``lmms_robust_eight`` group with the same script on every benchmark, so the metrics are
hand-computable from n, the benchmark's fixture size. Only the first two items of each task get a response:
  item 1 answers its gold letter, item 2 a wrong one; every other item gets the empty response (unparsed).
  - no prefill (base, captions, abstain): item 1's CoT concludes gold (correct, consistent); item 2's CoT concludes
    gold but it answers the wrong letter (wrong, inconsistent), or the abstain letter in abstain variants.
  - wrongthink family (the prefilled CoT argues for the wrong target T): item 1 closes the think block and answers
    gold (correct, inconsistent: a "stubborn expert"); item 2 answers T (wrong, consistent).
  - truethink (prefilled CoT argues for gold): item 1 answers gold (correct, consistent); item 2 a wrong letter
    (wrong, inconsistent).
  - stopthink: the answer only; consistency metrics are not applicable (null).
So for every task acc = 1/n and unparsed_rate = (n-2)/n; consistency = 1/2 wherever it applies.
"""

from __future__ import annotations

import json

import pytest

from lmms_robust.benchmarks import BENCHMARKS, PAPER_BENCHMARKS
from lmms_robust.core.items import LETTERS
from lmms_robust.core.perturb import VARIANT_NAMES, perturb
from lmms_robust.localize import localize
from lmms_robust.results import load_samples, task_metrics
from lmms_robust.testing.fixtures import fixture_module, write_fixture
from tests.harness.conftest import run_lmms_eval, write_replay

pytestmark = pytest.mark.e2e
WRONGTHINK = ("wrongthink", "wrongthink_but", "wrongthink_abstain")


def fixture_items(benchmark: str) -> list:
    module = BENCHMARKS[benchmark]
    return [module.to_item({**row, module.IMAGE_FIELD: "<image>"}) for row in fixture_module(benchmark).dataset()]


def script(benchmark: str, variant: str) -> dict[str, str]:
    first, second = fixture_items(benchmark)[:2]
    gold1, gold2 = first.gold_letters[0], second.gold_letters[0]
    wrong2 = next(letter for letter in second.letters if letter not in second.gold_letters)
    if variant in WRONGTHINK:
        target2 = perturb(second, variant).target  # the letter the prefilled rationale argues for
        return {first.item_id: f"</think><answer>{gold1}</answer>",
                second.item_id: f" Okay.</think><answer>{target2}</answer>"}  # no "Yes.": an answer to yes/no items
    if variant == "truethink":
        return {first.item_id: f"</think><answer>{gold1}</answer>", second.item_id: f"</think><answer>{wrong2}</answer>"}
    if variant == "stopthink":
        return {first.item_id: f"<answer>{gold1}</answer>", second.item_id: f"<answer>{wrong2}</answer>"}
    if "abstain" in variant:
        wrong2 = LETTERS[len(second.options)]
    return {first.item_id: f"<think>Looking closely, the answer is ({gold1}).</think><answer>{gold1}</answer>",
            second.item_id: f"<think>Looking closely, the answer is ({gold2}).</think><answer>{wrong2}</answer>"}


def expected(n: int, variant: str) -> dict:
    one, rest = 1 / n, (n - 2) / n
    metrics = dict(acc=one, unparsed_rate=rest)
    if variant == "stopthink":
        return metrics | dict(consistency=None, consistent_acc=None, q_undetermined=None)
    metrics |= dict(consistency=1 / 2, undetermined_rate=rest, q_undetermined=rest)
    if variant in WRONGTHINK:  # item 1 inconsistent-correct, item 2 consistent-incorrect
        metrics |= dict(consistent_acc=0.0, q_inconsistent_correct=one, q_consistent_incorrect=one,
                        q_consistent_correct=0.0, q_inconsistent_incorrect=0.0)
    else:  # item 1 consistent-correct, item 2 inconsistent-incorrect
        metrics |= dict(consistent_acc=one, q_consistent_correct=one, q_inconsistent_incorrect=one,
                        q_inconsistent_correct=0.0, q_consistent_incorrect=0.0)
    if "abstain" in variant:
        metrics["abstain_rate"] = one if variant == "abstain" or variant == "misleadcap_abstain" else 0.0
    else:
        metrics["abstain_rate"] = None
    return metrics


@pytest.fixture(scope="module")
def eight(tmp_path_factory):
    work = tmp_path_factory.mktemp("eight")
    for benchmark in PAPER_BENCHMARKS:
        localize(benchmark, write_fixture(benchmark, work / "data" / benchmark), work / "tasks")
    rows = [{"task": f"{b}_{v}", "item_id": item_id, "response": response}
            for b in PAPER_BENCHMARKS for v in VARIANT_NAMES for item_id, response in script(b, v).items()]
    replay = write_replay(work / "replay.jsonl", rows)
    run = run_lmms_eval(work / "out", "robust_replay", f"path={replay},missing=empty", "lmms_robust_eight",
                        work / "tasks", cwd=work)
    assert (work / "out").exists(), run.log[-4000:]
    return run


def test_the_group_runs_every_benchmark_and_variant(eight):
    results = eight.results
    for benchmark in PAPER_BENCHMARKS:
        n = len(fixture_items(benchmark))
        for variant in VARIANT_NAMES:
            task = f"{benchmark}_{variant}"
            assert results["n-samples"][task]["effective"] == n, task
            assert len(load_samples(eight.output, task)) == n, task


@pytest.mark.parametrize("benchmark", PAPER_BENCHMARKS)
def test_replayed_metrics_equal_hand_computed(eight, benchmark):
    n = len(fixture_items(benchmark))
    for variant in VARIANT_NAMES:
        metrics = task_metrics(eight.results, f"{benchmark}_{variant}")
        for name, value in expected(n, variant).items():
            if value is None:
                assert metrics[name] is None, (benchmark, variant, name, metrics[name])
            else:
                assert metrics[name] == pytest.approx(value), (benchmark, variant, name, metrics[name])


def test_records_carry_the_natural_caption_and_the_seed(eight):
    for benchmark in PAPER_BENCHMARKS:
        first = fixture_items(benchmark)[0]
        records = {s["acc"]["item_id"]: s["acc"] for s in load_samples(eight.output, f"{benchmark}_misleadcap")}
        assert records[first.item_id]["caption"] == perturb(first, "misleadcap").caption
        config = eight.results["configs"][f"{benchmark}_misleadcap"]
        assert config["process_docs"].endswith(f"{benchmark}_misleadcap (seed=0; perturbations=generator)")
        assert json.dumps(config["metadata"]["protocol"])  # the protocol defaults travel with every task
