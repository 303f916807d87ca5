"""prefill_chat_template: a final assistant message is left open, exactly as continue_final_message renders it."""

from __future__ import annotations

import pytest

from lmms_robust.training.chat import prefill_chat_template, render_prompt

USER = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which bar? (A) red (B) green"}]}
PREFILL = "<think>Let me look at the image carefully. so the answer is (A)."


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    from transformers import AutoProcessor

    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    return AutoProcessor.from_pretrained(build_tiny_qwen25vl(tmp_path_factory.mktemp("tiny")))


@pytest.mark.parametrize("content", [[{"type": "text", "text": PREFILL}], PREFILL])
def test_final_assistant_message_is_continued_even_with_add_generation_prompt(processor, content):
    messages = [USER, {"role": "assistant", "content": content}]
    expected = processor.apply_chat_template(messages, tokenize=False, continue_final_message=True)
    wrapped = prefill_chat_template(processor.chat_template)
    got = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, chat_template=wrapped)
    assert got == expected and got.endswith("<|im_start|>assistant\n" + PREFILL)
    assert render_prompt(messages, processor) == expected


def test_prompts_without_prefill_render_unchanged(processor):
    wrapped = prefill_chat_template(processor.chat_template)
    for flag in (True, False):
        assert processor.apply_chat_template([USER], tokenize=False, add_generation_prompt=flag,
                                             chat_template=wrapped) == \
            processor.apply_chat_template([USER], tokenize=False, add_generation_prompt=flag)
    assert render_prompt([USER], processor).endswith("<|im_start|>assistant\n")


def test_wrapping_is_idempotent_and_refuses_no_template():
    assert prefill_chat_template(prefill_chat_template("{{ messages }}")) == prefill_chat_template("{{ messages }}")
    with pytest.raises(ValueError):
        prefill_chat_template(None)
