"""Every model_arg and lmms-eval flag the README names for qwen2_5_vl_robust, through the real CLI.

Each run checks the arguments took effect where a record or the results file can show it, not only that the
run did not crash (lmms-eval exits 0 either way).
"""

from __future__ import annotations

import pytest

from lmms_robust.results import check_run, load_samples

pytestmark = pytest.mark.e2e

BASE_ARGS = "device=cpu,device_map=cpu,dtype=float32"


def model_of(run, task="mathvista_base") -> list[dict]:
    return [s["acc"] for s in load_samples(run.output, task)]


@pytest.fixture(scope="module")
def every_model_arg(work, tiny_model, local_tasks, lmms_eval_runner):
    args = (f"pretrained={tiny_model},{BASE_ARGS},batch_size=3,attn_implementation=eager,min_pixels=3136,"
            f"max_pixels=12544,system_prompt=Answer briefly.,max_new_tokens=5,letter_probs=false,revision=main")
    return lmms_eval_runner(work / "out_args", "qwen2_5_vl_robust", args, "mathvista_base", local_tasks,
                            extra=["--limit", "4"])


def test_batch_size_as_a_model_arg_beside_the_cli_flag_runs_and_wins(every_model_arg):
    # lmms-eval passes its own --batch_size 1 too; before, the duplicate keyword crashed the run (exit 0)
    check_run(every_model_arg.output, ["mathvista_base"])
    records = model_of(every_model_arg)
    assert len(records) == 4
    assert {r["provenance"]["model"]["batch_size"] for r in records} == {3}


def test_the_other_model_args_take_effect(every_model_arg):
    records = model_of(every_model_arg)
    model = records[0]["provenance"]["model"]
    assert (model["system_prompt"], model["dtype"], model["revision"], model["max_new_tokens_cap"]) == (
        "Answer briefly.", "float32", "main", 5)
    assert all(r["output_tokens"] <= 5 for r in records)  # the max_new_tokens cap
    assert all(r["letter_probs"] is None for r in records)  # letter_probs=false
    assert model["letter_probs"] is False


def test_the_cli_batch_size_flag_is_used_when_model_args_name_none(work, tiny_model, local_tasks, lmms_eval_runner):
    run = lmms_eval_runner(work / "out_cli_batch", "qwen2_5_vl_robust",
                           f"pretrained={tiny_model},{BASE_ARGS},max_new_tokens=3", "mathvista_base", local_tasks,
                           extra=["--limit", "4", "--batch_size", "2", "--gen_kwargs", "max_new_tokens=2"])
    check_run(run.output, ["mathvista_base"])
    records = model_of(run)
    assert {r["provenance"]["model"]["batch_size"] for r in records} == {2}
    assert all(r["output_tokens"] <= 2 for r in records)  # --gen_kwargs max_new_tokens=N, under the cap of 3


def test_an_unknown_model_arg_is_refused_before_anything_loads():
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust

    backend = Qwen2_5_VLRobust.__new__(Qwen2_5_VLRobust)  # load() alone: it refuses before touching transformers
    with pytest.raises(TypeError, match=r"qwen2_5_vl_robust: unknown model_args \['reasoning_prompt'\]"):
        backend.load("/nonexistent", reasoning_prompt="x")


@pytest.mark.slow  # the same refusal as the test above, through the CLI (~17 s); `-m slow` runs it
def test_an_unknown_model_arg_is_refused_by_name(work, tiny_model, local_tasks, lmms_eval_runner):
    run = lmms_eval_runner(work / "out_bad_arg", "qwen2_5_vl_robust",
                           f"pretrained={tiny_model},{BASE_ARGS},reasoning_prompt=x", "mathvista_base", local_tasks)
    assert "unknown model_args ['reasoning_prompt']" in run.log
