"""The prefill backend itself: exact continuation of an assistant prefix, stop strings, architecture check."""

from __future__ import annotations

import json

import pytest
import torch

from lmms_robust.models.prefill import WrongArchitecture
from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
from lmms_robust.testing.sample import draw_image

PREFIX = "<think>The bar is green, so the answer is (B)."


@pytest.fixture(scope="module")
def backend(tiny_model):
    return Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32")


def messages(prefill: str | None):
    turn = [{"role": "user", "content": [{"type": "image", "image": draw_image(0)}, {"type": "text", "text": "Q? (A) x (B) y"}]}]
    if prefill is not None:
        turn.append({"role": "assistant", "content": [{"type": "text", "text": prefill}]})
    return turn


def test_prefill_is_continued_not_closed(backend):
    text = backend.render(messages(PREFIX))
    assert text.endswith("<|im_start|>assistant\n" + PREFIX)
    assert text.count("<|im_start|>assistant") == 1


def test_without_prefill_a_fresh_assistant_turn_opens(backend):
    assert backend.render(messages(None)).endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_generation_starts_right_after_the_prefix(backend):
    text = backend.render(messages(PREFIX))
    inputs = backend.prepare_inputs([text], [messages(PREFIX)])
    prefix_ids = backend.tokenizer(PREFIX, add_special_tokens=False)["input_ids"]
    # the prompt's last tokens are the prefix's own tokens: nothing (no end-of-turn) comes after it
    assert inputs["input_ids"][0, -len(prefix_ids):].tolist() == prefix_ids
    with torch.inference_mode():
        out = backend.model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3


def test_every_end_of_turn_id_stops_a_generation(backend):
    tok = backend.tokenizer
    im_end, end_of_text = tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")
    # generation_config lists both (as Qwen2.5-VL's does); the tokenizer's eos is <|im_end|>
    assert backend.stop_token_ids == sorted({im_end, end_of_text})


def test_how_a_generation_ended_is_told_apart(backend):
    tok = backend.tokenizer
    words = tok("<think>a\n\nb</think>\n\n<answer>B</answer>", add_special_tokens=False)["input_ids"]
    im_end, pad = tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id
    text = "<think>a\n\nb</think>\n\n<answer>B</answer>"
    # blank lines never stop it; the end-of-turn token does (counted), right padding after it is dropped
    assert backend._finish(words + [im_end, pad, pad], []) == (text, "eos", len(words) + 1)
    assert backend._finish(words + [pad], []) == (text, "eos", len(words) + 1)  # <|endoftext|> is an end too
    assert backend._finish(words, []) == (text, "length", len(words))  # no end: max_new_tokens reached
    # a stop string asked for by the task (ours ask for none) cuts before itself
    assert backend._finish(words + [pad], ["</answer>", "\n\n"]) == ("<think>a", "stop", len(words))


def test_wrong_architecture_is_refused_naming_the_fix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]}))
    with pytest.raises(WrongArchitecture, match="qwen2_5_vl_robust backend loads qwen2_5_vl checkpoints only"):
        Qwen2_5_VLRobust(pretrained=str(tmp_path), device="cpu", device_map="cpu")


@pytest.mark.parametrize("prefill", [None, PREFIX])
def test_letter_pass_reusing_generation_inputs_equals_a_fresh_one(backend, prefill):
    conversation = messages(prefill)
    inputs = backend.prepare_inputs([backend.render(conversation)], [conversation])
    assistant_text = (prefill or "") + " more reasoning</think><answer>"
    reused = backend.letter_distribution(conversation, assistant_text, "AB", prompt_inputs=inputs)
    fresh = backend.letter_distribution(conversation, assistant_text, "AB")
    assert reused["forced"] is False and fresh["forced"] is False
    assert reused["raw"] == pytest.approx(fresh["raw"], rel=1e-5)
    assert 0 < sum(fresh["raw"].values()) < 1


def test_letters_read_from_the_generation_itself_equal_a_teacher_forced_pass(backend):
    from lmms_robust.models.prefill import Generation

    conversation = messages(None)
    inputs = backend.prepare_inputs([backend.render(conversation)], [conversation])
    assistant = "<think>the bar is green, so the answer is (B).</think><answer>B</answer>"
    generated = backend.tokenizer(assistant, add_special_tokens=False)["input_ids"]
    prompt_len = inputs["input_ids"].shape[1]
    ids = inputs["input_ids"][0].tolist() + generated
    # stand-in for model.generate(output_logits=True): the same sequence's logits and cache from one pass
    side = {k: (torch.nn.functional.pad(v, (0, len(generated))) if k == "mm_token_type_ids" else v)
            for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        out = backend.model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                            use_cache=True, **side)
    step_logits = tuple(out.logits[:, prompt_len - 1 + k] for k in range(len(generated)))
    generation = Generation(ids, prompt_len, step_logits, out.past_key_values)
    reused = backend.letter_distribution(conversation, assistant, "AB", prompt_inputs=inputs, generation=generation)
    fresh = backend.letter_distribution(conversation, assistant, "AB")
    assert reused["raw"] == pytest.approx(fresh["raw"], rel=1e-4)
    # "<answer>" + "B" was generated: the step after ">" is read from the generation, " A"/" B" need one cached step
    assert generation.reads == {"generation": 0, "cached_step": 1}
