"""Slow: two GRPO steps with TRL on the tiny random Qwen2.5-VL, on CPU, with our rewards and augmentation."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e  # about 10 s: in the default run (needs the [train] extra, else skipped)


def test_two_grpo_steps_on_the_tiny_vlm(tmp_path):
    trl = pytest.importorskip("trl")
    import datasets
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from lmms_robust.testing.sample import SAMPLE_ROWS, draw_image
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl
    from lmms_robust.training import augment_dataset, prefill_chat_template, trl_faithfulness_reward, trl_total_reward

    model_dir = build_tiny_qwen25vl(tmp_path / "tiny")
    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    processor.chat_template = prefill_chat_template(processor.chat_template)
    processor.tokenizer.chat_template = processor.chat_template
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)

    rows = [{**row, "decoded_image": draw_image(i)} for i, row in enumerate(SAMPLE_ROWS)]
    ds = datasets.Dataset.from_list(rows).cast_column("decoded_image", datasets.Image())
    # Every row prefilled with the wrong think, so the steps exercise the open-assistant-turn path.
    ds = augment_dataset(ds, "mathvista", probabilities={"wrongthink": 1.0}).rename_column("decoded_image", "image")
    # at probability 1.0 every item where wrong think applies gets it: all but s8, whose list answer is not perturbed
    assert [a == "wrongthink" for a in ds["lr_augmentation"]] == [True] * 7 + [False]

    seen = []

    def spy_reward(prompts, completions, **kwargs):
        seen.append((prompts, completions, kwargs["lr_prefill"]))
        return [0.0] * len(completions)

    config = trl.GRPOConfig(
        output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, max_steps=2, per_device_train_batch_size=4,
        num_generations=2, max_completion_length=8, logging_steps=1, save_strategy="no", report_to="none",
        learning_rate=1e-4, seed=0, dataloader_num_workers=0,
    )
    trainer = trl.GRPOTrainer(model=model, processing_class=processor, args=config, train_dataset=ds,
                              reward_funcs=[trl_total_reward, trl_faithfulness_reward, spy_reward])
    trainer.train()

    assert trainer.state.global_step == 2
    logged = [entry for entry in trainer.state.log_history if "rewards/total_reward/mean" in entry]
    assert logged and all("rewards/faithfulness_reward/mean" in entry for entry in logged)
    # 8 random-weight tokens never make a well-formed, correct answer: every reward is exactly 0
    assert all(entry["rewards/total_reward/mean"] == 0.0 for entry in logged)
    assert all(entry["rewards/faithfulness_reward/mean"] == 0.0 for entry in logged)
    prompts, completions, prefills = seen[0]
    assert any(p for p in prefills)
    for prompt, prefill in zip(prompts, prefills):
        if prefill:  # the reward sees the prefix as the prompt's final assistant message
            assert prompt[-1]["role"] == "assistant"
            # ... and the prompt TRL tokenizes (always add_generation_prompt=True) ends inside the open assistant turn
            rendered = processor.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            assert rendered.endswith("<|im_start|>assistant\n" + prefill)
