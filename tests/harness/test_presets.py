"""Prompt presets: the paper's checkpoints asked as they were trained (templates/presets/presets.yaml)."""

from __future__ import annotations

import json
import re

import pytest

from lmms_robust.harness.docs import build_docs
from lmms_robust.harness.hooks import conversation, doc_to_messages
from lmms_robust.presets import DEFAULT, PresetError, choose, detect, presets
from lmms_robust.testing.sample import sample_dataset

PAPER = ("qwen2_5_vl_instruct", "spacer", "video_r1", "vision_r1", "vlaa_thinker", "vigorl_spatial")


@pytest.fixture(scope="module")
def docs():
    return {variant: list(build_docs(sample_dataset(), "mathvista", variant)) for variant in ("base", "wrongthink")}


def user_text(messages: list[dict]) -> str:
    return next(part["text"] for part in messages[0]["content"] if part["type"] == "text")


def test_the_table_has_the_protocol_and_the_six_checkpoints_each_with_a_cited_source():
    table = presets()
    assert set(table) == {DEFAULT, *PAPER}
    for name in PAPER:
        # repo@40-hex-commit:path, as the docs cite them
        assert re.search(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}:\S+", table[name].source) or name == "qwen2_5_vl_instruct", name
        assert table[name].match


@pytest.mark.parametrize("checkpoint, expected", [
    ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl_instruct"),
    ("RUBBISHLIKE/SpaceR", "spacer"),
    ("/ckpt/SpaceR-7B", "spacer"),
    ("Video-R1/Video-R1-7B", "video_r1"),
    ("Osilly/Vision-R1-7B", "vision_r1"),
    ("UCSC-VLAA/VLAA-Thinker-Qwen2.5VL-7B", "vlaa_thinker"),
    ("gsarch/ViGoRL-7b-Spatial", "vigorl_spatial"),
])
def test_each_checkpoint_is_detected_from_its_name(checkpoint, expected):
    choice = choose(None, checkpoint)
    assert choice.preset.name == expected and choice.how == f"detected: {checkpoint}"


def test_an_unknown_checkpoint_gets_the_protocol_and_says_so():
    for name in ("/models/my-finetune", "/home/workspacer/ckpt"):  # "spacer" inside a word is no SpaceR
        assert choose("auto", name).describe() == {"preset": DEFAULT, "preset_choice": "default"}


def test_a_local_copy_is_detected_from_its_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "UCSC-VLAA/VLAA-Thinker-Qwen2.5VL-7B"}))
    found = detect(str(tmp_path))
    assert found[0].name == "vlaa_thinker" and found[1] == "UCSC-VLAA/VLAA-Thinker-Qwen2.5VL-7B"


def test_the_path_decides_before_a_config_naming_the_base_checkpoint(tmp_path):
    local = tmp_path / "Video-R1-7B"
    local.mkdir()
    (local / "config.json").write_text(json.dumps({"_name_or_path": "Qwen/Qwen2.5-VL-7B-Instruct"}))
    assert detect(str(local))[0].name == "video_r1"


def test_model_args_override_detection_and_unknown_names_are_refused():
    assert choose("protocol", "Video-R1/Video-R1-7B").describe() == {"preset": "protocol", "preset_choice": "model_args"}
    with pytest.raises(PresetError, match=r"preset='r1' is not a preset; choose one of protocol, qwen2_5_vl_instruct"):
        choose("r1", "x")


def test_the_protocol_preset_asks_exactly_what_the_task_hook_asks(docs):
    for variant, rows in docs.items():
        for doc in rows:
            assert conversation(doc, presets()[DEFAULT]) == doc_to_messages(doc, {"prefill_supported": True})


def test_video_r1_asks_its_question_template_and_type_template(docs):
    mc, free = docs["base"][0], docs["base"][2]  # s1 (4 options), s3 (integer)
    text = user_text(conversation(mc, presets()["video_r1"]))
    assert text.startswith("Which bar is the tallest?\nOptions:\n(A) red\n")
    assert text.endswith("(D) yellow\nPlease think about this question as if you were a human pondering deeply. "
                         "Engage in an internal dialogue using expressions such as 'let me think', 'wait', 'Hmm', "
                         "'oh, I see', 'let's break it down', etc, or other natural language thought expressions "
                         "It's encouraged to include self-reflection or verification in the reasoning process. "
                         "Provide your detailed reasoning between the <think> </think> tags, and then give your final "
                         "answer between the <answer> </answer> tags. Please provide only the single option letter "
                         "(e.g., A, B, C, D, etc.) within the <answer> </answer> tags.")
    assert user_text(conversation(free, presets()["video_r1"])).endswith(
        "Please provide the numerical value (e.g., 42 or 3.14) within the <answer> </answer> tags.")
    assert user_text(conversation(free, presets()["spacer"])).endswith("(e.g., 42 or 3.1) within the <answer> </answer> tags.")


def test_spacer_prefixes_the_question_and_vlaa_asks_the_question_alone(docs):
    doc = docs["wrongthink"][0]
    assert user_text(conversation(doc, presets()["spacer"])).startswith("Question: Which bar is the tallest?\n")
    vlaa = conversation(doc, presets()["vlaa_thinker"])
    assert user_text(vlaa) == "Which bar is the tallest?\nOptions:\n(A) red\n(B) green\n(C) blue\n(D) yellow"
    assert vlaa[-1]["role"] == "assistant"  # the variant's prefill is kept in every preset


def test_vigorl_keeps_the_literal_backslash_n_of_its_training_prompt():
    prompt = presets()["vigorl_spatial"].system_prompt
    assert "\\n\\nAll reasoning processes" in prompt and "\n" not in prompt
    assert "<answer> {text of selected answer choice} </answer>" in prompt


def test_the_transformers_backend_renders_and_records_its_preset(tiny_model):
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust

    backend = Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32",
                               preset="vlaa_thinker")
    text = backend.render([{"role": "user", "content": [{"type": "text", "text": "Q?"}]}])
    assert text.startswith("<|im_start|>system\nYou are VL-Thinking🤔, a helpful assistant")
    assert backend.model_info["preset"] == "vlaa_thinker" and backend.model_info["preset_choice"] == "model_args"
    # an explicit system_prompt replaces the preset's system turn
    plain = Qwen2_5_VLRobust(pretrained=str(tiny_model), device="cpu", device_map="cpu", dtype="float32",
                             preset="vlaa_thinker", system_prompt="Be brief.")
    assert plain.render([{"role": "user", "content": [{"type": "text", "text": "Q?"}]}]).startswith(
        "<|im_start|>system\nBe brief.<|im_end|>")
