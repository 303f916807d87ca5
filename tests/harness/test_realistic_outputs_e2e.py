"""Realistic R1-style outputs through the real CLI and the real qwen2_5_vl_robust backend.

The tiny model is made to write chosen texts (``lmms_robust.testing.scripted``: forced decoding after its real
forward pass), modelled on real outputs of RL-tuned Qwen2.5-VL models: paragraphs with blank lines,
``</think>\\n\\n<answer>``, an answer written before the think block, a generation that runs into
``max_new_tokens`` (a repetition loop), an ``<|endoftext|>`` end, and a prefilled wrong think that the model
argues past. The real ``generate``, stop ids, decoding, letter pass, filter and scoring process them; every number
below is derived by hand from the texts.
"""

from __future__ import annotations

import json
import math

import pytest

from lmms_robust.core.perturb import PerturbConfig, perturb
from lmms_robust.benchmarks import adapter
from lmms_robust.localize import localize
from lmms_robust.results import load_samples, task_metrics
from lmms_robust.testing.sample import write_sample

pytestmark = pytest.mark.e2e

CAP = 400  # model_args max_new_tokens: only the looping item reaches it

ROWS = [
    dict(pid="r1", question="What type of transport is visible here?", choices=["car", "plane", "hot air balloon", "bike"],
         answer="hot air balloon", question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="r2", question="How many objects are left after removing the red cube?", choices=None, answer="3",
         question_type="free_form", answer_type="integer", unit=None, precision=None),
    dict(pid="r3", question="What are you instructed to do?", choices=["watch out", "follow car", "turn left", "stop"],
         answer="follow car", question_type="multi_choice", answer_type="text", unit=None, precision=None),
    dict(pid="r4", question="Which jockey is ahead?", choices=["green stripes", "none", "red hat", "yellow hat"],
         answer="red hat", question_type="multi_choice", answer_type="text", unit=None, precision=None),
]

R1_COT = ("<think>\nThe image shows a large, colourful, balloon-shaped object floating above a field.\n\n"
          "A basket hangs below it, and there are no wings or wheels.\n\nSo the answer is C.\n</think>\n\n")
R2_TEXT = ("<think>\nI count the objects: a blue sphere, a green cylinder, a red cube and a yellow cone.\n\n"
           "Removing the red cube leaves three of them.\n\nThe answer is 3.\n</think>\n\n<answer>3</answer>")
# an answer before the think block (PROTOCOL: the last <answer> block counts)
R3_TEXT = ("<answer>B</answer>\n<think>\nThe sign on the truck says \"Pilot Car Follow Me\".\n\n"
           "So the answer is B.\n</think>")
R4_LOOP = "<think>\nThe jockey in the red hat is slightly ahead." + " Let me check the horses again." * 80
R1_LETTERS = {"A": 0.05, "B": 0.15, "C": 0.7, "D": 0.1}


def wrongthink_prefill(item_row: dict) -> str:
    row = {**item_row, "decoded_image": "<image>", "image": "x.png", "query": item_row["question"], "metadata": {}}
    return perturb(adapter("mathvista")(row), "wrongthink", PerturbConfig(seed=0)).prefill


@pytest.fixture(scope="module")
def script(work):
    r4_prefill = wrongthink_prefill(ROWS[3])
    entries = [
        # r4 under wrongthink (the prompt is base's; its assistant turn starts with the prefill): the model argues
        # past the wrong think and answers the gold. Light enough that without the prefill (base) the loop wins.
        {"match": ["Which jockey is ahead?"],
         "turns": [{"text": r4_prefill + " But the red hat is in front.\n\nSo the answer is C.\n</think>\n\n"
                            "<answer>C</answer>", "p": 0.001}]},
        {"match": ["What type of transport is visible here?"],
         "turns": [{"text": R1_COT + f"<answer>{letter}</answer>", "p": p} for letter, p in R1_LETTERS.items()]},
        {"match": ["How many objects are left"], "turns": [{"text": R2_TEXT, "p": 1.0, "end": "<|endoftext|>"}]},
        {"match": ["What are you instructed to do?"], "turns": [{"text": R3_TEXT, "p": 1.0}]},
        {"match": ["Which jockey is ahead?"], "turns": [{"text": R4_LOOP, "p": 1.0}]},
    ]
    return entries


@pytest.fixture(scope="module")
def realistic_run(work, tiny_model, script, lmms_eval_runner):
    tasks = localize("mathvista", write_sample(work / "realistic_sample", ROWS), work / "realistic_tasks")
    path = work / "realistic_script.json"
    path.write_text(json.dumps(script))
    run = lmms_eval_runner(work / "out_realistic", "qwen2_5_vl_robust",
                           f"pretrained={tiny_model},device=cpu,device_map=cpu,dtype=float32,max_new_tokens={CAP}",
                           "mathvista_base,mathvista_wrongthink", tasks, script=path)
    assert (run.output).exists(), run.log[-3000:]
    return run


def records(run, task):
    return {s["acc"]["item_id"]: s["acc"] for s in load_samples(run.output, task)}


def test_the_task_asks_for_no_stop_string(realistic_run):
    config = realistic_run.results["configs"]["mathvista_base"]
    assert config["generation_kwargs"]["until"] == []


def test_paragraphs_and_a_blank_line_before_the_answer_survive(realistic_run):
    r1 = records(realistic_run, "mathvista_base")["r1"]
    assert (r1["status"], r1["answer"], r1["correct"], r1["cot_conclusion"], r1["quadrant"]) == (
        "ok", "C", True, "C", "consistent_correct")
    assert r1["finish_reason"] == "eos"
    # the model wrote <answer itself: the distribution is read there, unforced, and is the script's mixture
    assert r1["letter_forced"] is False
    assert r1["letter_probs"] == pytest.approx(R1_LETTERS, abs=1e-6)
    assert r1["p_correct"] == pytest.approx(0.7, abs=1e-6)


def test_an_endoftext_end_stops_the_generation(realistic_run):
    r2 = records(realistic_run, "mathvista_base")["r2"]
    assert (r2["status"], r2["answer"], r2["correct"], r2["cot_conclusion"], r2["consistent"]) == (
        "ok", "3", True, "3", True)
    assert r2["finish_reason"] == "eos"
    assert r2["letter_probs"] is None  # free-form: no letter metrics


def test_an_answer_before_the_think_block_counts(realistic_run):
    r3 = records(realistic_run, "mathvista_base")["r3"]
    assert (r3["status"], r3["answer"], r3["correct"], r3["cot_conclusion"], r3["consistent"]) == (
        "ok", "B", True, "B", True)
    assert r3["finish_reason"] == "eos"
    # its own <answer comes before the think block: read there, unforced; the only turn writes B
    assert r3["letter_forced"] is False
    assert r3["letter_probs"] == pytest.approx({"A": 0.0, "B": 1.0, "C": 0.0, "D": 0.0}, abs=1e-6)


def test_a_generation_cut_by_max_new_tokens_is_unparsed_and_counted(realistic_run):
    r4 = records(realistic_run, "mathvista_base")["r4"]
    assert (r4["status"], r4["unparsed_reason"], r4["correct"]) == ("unparsed", "empty", False)  # nothing after the think
    assert (r4["finish_reason"], r4["output_tokens"]) == ("length", CAP)
    # forced after the cut think block, where no scripted turn goes on: every letter equally likely
    assert r4["letter_forced"] is True
    assert r4["letter_probs"] == pytest.approx(dict.fromkeys("ABCD", 0.25), abs=1e-6)


def test_base_metrics_equal_hand_computed(realistic_run):
    metrics = task_metrics(realistic_run.results, "mathvista_base")
    # r1 C right, r2 3 right, r3 B right, r4 cut (unparsed): 3/4 correct, all three answered ones consistent
    assert metrics["acc"] == pytest.approx(3 / 4)
    assert metrics["unparsed_rate"] == pytest.approx(1 / 4)
    assert metrics["consistency"] == pytest.approx(1.0)
    assert metrics["consistent_acc"] == pytest.approx(3 / 4)
    assert metrics["undetermined_rate"] == pytest.approx(1 / 4)
    assert metrics["truncated_rate"] == pytest.approx(1 / 4)
    # letter items r1, r3, r4: p_correct 0.7, 1.0, 0.25
    assert metrics["p_correct"] == pytest.approx((0.7 + 1.0 + 0.25) / 3, abs=1e-6)
    entropy_r1 = -sum(p * math.log(p) for p in R1_LETTERS.values())
    assert records(realistic_run, "mathvista_base")["r1"]["letter_entropy"] == pytest.approx(entropy_r1, abs=1e-5)


def test_a_prefilled_wrong_think_is_continued_exactly(realistic_run):
    r4 = records(realistic_run, "mathvista_wrongthink")["r4"]
    prefill = wrongthink_prefill(ROWS[3])
    assert r4["prefill"] == prefill
    assert (r4["status"], r4["answer"], r4["correct"], r4["cot_conclusion"], r4["finish_reason"]) == (
        "ok", "C", True, "C", "eos")
    sample = {s["acc"]["item_id"]: s for s in load_samples(realistic_run.output, "mathvista_wrongthink")}["r4"]
    response = sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0]
    assert response.startswith(" But the red hat is in front.\n\nSo the answer is C.\n</think>\n\n<answer>C</answer>")
