"""vllm_robust through the real lmms-eval CLI, against qwen2_5_vl_robust on the same tiny model.

The two backends must agree record for record: the generated text, how it ended, its length, the parse, the
scores and the letter distribution (to 1e-6), on every variant (``mathvista_robust``: all 11), in a checkpoint's
prompt preset (``preset=vlaa_thinker``). Only the provenance naming the backend differs.
"""

from __future__ import annotations

import json
import math

import pytest

from lmms_robust.core.trailer import detach
from lmms_robust.presets import presets
from lmms_robust.results import load_samples, task_metrics
from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

from .conftest import ALL_TASKS, TRANSFORMERS_ARGS, VLLM_ARGS

pytestmark = pytest.mark.e2e

CAP = "max_new_tokens=8"


@pytest.fixture(scope="module")
def runs(work, tiny_model, local_tasks, lmms_eval_runner):
    common = f"pretrained={tiny_model},preset=vlaa_thinker,{CAP}"
    vllm_run = lmms_eval_runner(work / "out_vllm", "vllm_robust", f"{common},{VLLM_ARGS}", "mathvista_robust",
                                local_tasks)
    hf_run = lmms_eval_runner(work / "out_hf", "qwen2_5_vl_robust", f"{common},{TRANSFORMERS_ARGS}",
                              "mathvista_robust", local_tasks)
    return vllm_run, hf_run


def records(run, task):
    return {s["acc"]["item_id"]: s for s in load_samples(run.output, task)}


def assert_same(a, b, where):
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, abs_tol=1e-6), where
    elif isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    else:
        assert a == b, where


def test_every_variant_gives_the_transformers_backend_records(runs):
    vllm_run, hf_run = runs
    for task in ALL_TASKS:
        mine, theirs = records(vllm_run, task), records(hf_run, task)
        assert sorted(mine) == [f"s{i}" for i in range(1, 9)], (task, vllm_run.log[-3000:])
        assert sorted(theirs) == sorted(mine), (task, hf_run.log[-3000:])
        for item_id, sample in mine.items():
            record, other = dict(sample["acc"]), dict(theirs[item_id]["acc"])
            record["provenance"], other["provenance"] = dict(record["provenance"]), dict(other["provenance"])
            # the two runs are minutes apart: a working tree edited meanwhile reads "+dirty" in one of them
            record["provenance"].pop("lmms_robust_commit"), other["provenance"].pop("lmms_robust_commit")
            model, other_model = record["provenance"].pop("model"), other["provenance"].pop("model")
            assert model["backend"] == "vllm_robust" and other_model["backend"] == "qwen2_5_vl_robust"
            assert model.pop("vllm") == __import__("vllm").__version__
            assert {k: v for k, v in model.items() if k != "backend"} == {
                k: v for k, v in other_model.items() if k != "backend"}, (task, item_id)
            assert_same(record, other, f"{task}/{item_id}")
            # the raw response too: same text, same trailer fields but the backend
            text, meta = detach(sample["resps"][0][0] if isinstance(sample["resps"][0], list) else sample["resps"][0])
            other_text, other_meta = detach(theirs[item_id]["resps"][0][0] if isinstance(theirs[item_id]["resps"][0], list)
                                            else theirs[item_id]["resps"][0])
            assert text == other_text and meta["finish_reason"] == other_meta["finish_reason"], (task, item_id)
            assert meta["output_tokens"] == other_meta["output_tokens"], (task, item_id)


def test_the_letter_distribution_is_there_and_equal(runs):
    vllm_run, hf_run = runs
    mine, theirs = records(vllm_run, "mathvista_wrongthink"), records(hf_run, "mathvista_wrongthink")
    for item_id in ("s1", "s2", "s5", "s7"):  # the multiple-choice items
        probs = mine[item_id]["acc"]["letter_probs"]
        assert probs is not None and math.isclose(sum(probs.values()), 1.0, abs_tol=1e-9)
        for letter, p in probs.items():
            assert math.isclose(p, theirs[item_id]["acc"]["letter_probs"][letter], abs_tol=1e-6), (item_id, letter)
    assert mine["s3"]["acc"]["letter_probs"] is None  # free-form


def test_the_preset_is_applied_and_recorded(runs):
    vllm_run, _ = runs
    record = records(vllm_run, "mathvista_base")["s1"]["acc"]
    model = record["provenance"]["model"]
    assert model["preset"] == "vlaa_thinker" and model["preset_choice"] == "model_args"
    assert model["system_prompt"] == presets()["vlaa_thinker"].system_prompt
    results = vllm_run.results
    assert "mathvista_base" in results["results"] and task_metrics(results, "mathvista_base")["acc"] is not None
    # and in the results file, beside the other provenance
    run_model = results["configs"]["mathvista_base"]["metadata"]["run"]["model"]
    assert (run_model["preset"], run_model["preset_choice"], run_model["backend"]) == (
        "vlaa_thinker", "model_args", "vllm_robust")


def test_a_prefill_is_continued_exactly(tiny_model):
    """The engine's prompt ends with the prefill's own tokens: no end of turn, no fresh assistant turn (what it
    then writes equals transformers', test_every_variant_gives_the_transformers_backend_records)."""
    from vllm import SamplingParams

    from lmms_robust.models.vllm_backend import VllmRobust
    from lmms_robust.testing.sample import draw_image

    backend = VllmRobust(pretrained=str(tiny_model), dtype="float32", enforce_eager=True)
    prefill = "<think>The bar is green, so the answer is (B)."
    conversation = [{"role": "user", "content": [{"type": "image", "image": draw_image(0)},
                                                 {"type": "text", "text": "Q? (A) x (B) y"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": prefill}]}]
    text = backend.render(conversation)
    assert text.endswith("<|im_start|>assistant\n" + prefill)
    prefill_ids = backend.tokenizer(prefill, add_special_tokens=False)["input_ids"]
    output = backend.engine.generate([backend._prompt(backend._ids(text), backend._images(conversation))],
                                     SamplingParams(max_tokens=4, temperature=0.0), use_tqdm=False)[0]
    assert list(output.prompt_token_ids[-len(prefill_ids):]) == prefill_ids
    assert backend.tokenizer.convert_tokens_to_ids("<|im_end|>") not in output.prompt_token_ids[-len(prefill_ids):]


LOGITS = {"<|im_end|>": 10.0, "A": 3.0, "B": 2.0, "C": 1.0, "D": 0.0, "Ġ": 1.0}


def test_letter_distribution_of_a_model_with_fixed_logits(work, local_tasks, lmms_eval_runner):
    """As tests/harness/test_letter_distribution_e2e.py for the transformers backend: <|im_end|> first, so the
    letter place is forced, and renormalised over an item's letters a letter's mass is ∝ e^logit."""
    model = build_tiny_qwen25vl(work / "tiny-controlled-hd32", token_logits=LOGITS, text_head_dim=32)
    run = lmms_eval_runner(work / "out_vllm_letters", "vllm_robust", f"pretrained={model},{VLLM_ARGS},max_new_tokens=4",
                           "mathvista_base", local_tasks)
    got = records(run, "mathvista_base")
    for item_id, letters in {"s1": "ABCD", "s2": "AB", "s5": "ABCDE", "s7": "ABC"}.items():
        weights = {letter: math.exp(LOGITS.get(letter, -20.0)) for letter in letters}
        total = sum(weights.values())
        record = got[item_id]["acc"]
        assert record["letter_probs"] == pytest.approx({k: w / total for k, w in weights.items()}, abs=1e-6), item_id
        assert record["letter_forced"] is True and record["finish_reason"] == "eos"
        assert record["provenance"]["model"]["preset"] == "protocol"  # nothing in the path names a checkpoint


def test_backend_refuses_what_it_cannot_run(work, tiny_model, tmp_path):
    from lmms_robust.models.prefill import WrongArchitecture
    from lmms_robust.models.vllm_backend import VllmRobust
    from lmms_robust.presets import PresetError

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]}))
    with pytest.raises(WrongArchitecture, match="vllm_robust backend loads qwen2_5_vl checkpoints only"):
        VllmRobust(pretrained=str(tmp_path))
    with pytest.raises(PresetError, match="preset='r1' is not a preset; choose one of .*vlaa_thinker"):
        VllmRobust(pretrained=str(tiny_model), preset="r1")
    with pytest.raises(TypeError, match=r"vllm_robust: unknown model_args \['reasoning_prompt'\]"):
        VllmRobust(pretrained=str(tiny_model), reasoning_prompt="think")


def test_lmms_eval_own_vllm_backend_is_refused_prefill_variants(work, tiny_model, local_tasks, lmms_eval_runner):
    run = lmms_eval_runner(work / "out_vllm_builtin", "vllm", f"model={tiny_model},{VLLM_ARGS}",
                           "mathvista_wrongthink", local_tasks)
    assert "prefills the assistant turn" in run.log and "--model vllm_robust" in run.log
    assert not list((work / "out_vllm_builtin").rglob("*_results.json"))


def test_two_processes_give_the_one_process_records(work, tiny_model, local_tasks, lmms_eval_runner, runs):
    """Data parallel as lmms-eval runs it (torch.distributed.run, gloo on CPU): each rank its own engine."""
    vllm_run, _ = runs
    tasks = ("mathvista_base", "mathvista_wrongthink")
    double = lmms_eval_runner(work / "out_vllm_dp", "vllm_robust",
                              f"pretrained={tiny_model},preset=vlaa_thinker,{CAP},{VLLM_ARGS}", ",".join(tasks),
                              local_tasks, launcher=["-m", "torch.distributed.run", "--nproc_per_node", "2"])
    assert "Running on rank 1" in double.log, double.log[-3000:]
    for task in tasks:
        one, two = records(vllm_run, task), records(double, task)
        assert sorted(two) == sorted(one) == [f"s{i}" for i in range(1, 9)]
        for item_id in one:
            assert two[item_id]["resps"] == one[item_id]["resps"], (task, item_id)
            assert two[item_id]["acc"]["letter_probs"] == one[item_id]["acc"]["letter_probs"], (task, item_id)


def test_a_rerun_resumes_from_the_response_log(work, tiny_model, local_tasks, lmms_eval_runner):
    args = f"pretrained={tiny_model},{CAP},{VLLM_ARGS},response_log={work / 'vllm_responses'}"
    first = lmms_eval_runner(work / "out_vllm_log1", "vllm_robust", args, "mathvista_base", local_tasks)
    again = lmms_eval_runner(work / "out_vllm_log2", "vllm_robust", args, "mathvista_base", local_tasks)
    assert "vllm_robust: 0 of 8 responses resumed" in first.log, first.log[-3000:]
    assert "vllm_robust: 8 of 8 responses resumed" in again.log, again.log[-3000:]
    assert [s["resps"] for s in load_samples(again.output, "mathvista_base")] == [
        s["resps"] for s in load_samples(first.output, "mathvista_base")]
