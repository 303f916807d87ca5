"""Prefill (an open assistant turn the model continues) for trainers that always add a generation prompt.

TRL 1.16's GRPOTrainer renders every conversational prompt with ``add_generation_prompt=True``
(``GRPOTrainer._tokenize_prompts``) and passes ``chat_template_kwargs`` on top, so a prompt that ends with an
assistant message is rendered as a CLOSED assistant turn followed by a NEW, empty assistant header: the model does
not continue the prefix. ``chat_template_kwargs={"continue_final_message": True}`` does not help: transformers
refuses it together with ``add_generation_prompt`` (ValueError). A VLM prompt must stay conversational (TRL refuses
pre-rendered text prompts with images), so the prompt cannot be rendered to a string beforehand either.

:func:`prefill_chat_template` fixes this in the chat template itself: the returned template renders exactly what
the original renders with ``continue_final_message=True`` when the conversation ends with an assistant message,
and exactly what the original renders otherwise. Set it on the processor (and its tokenizer) before building the
trainer. :func:`render_prompt` renders one conversation to a string the way the evaluation does (for verl or a
custom rollout that takes text).
"""

from __future__ import annotations

from typing import Any

__all__ = ["prefill_chat_template", "render_prompt"]

_MARK = "{#- lmms_robust prefill-aware wrapper -#}"

_PRELUDE = _MARK + """
{%- set lr_prefill_open = (messages | length > 0) and messages[-1]['role'] == 'assistant' -%}
{%- if lr_prefill_open -%}{%- set add_generation_prompt = false -%}{%- endif -%}
{% set lr_prefill_body %}"""

_EPILOGUE = """{% endset -%}
{%- if lr_prefill_open -%}
  {%- set lr_prefill_content = messages[-1]['content'] -%}
  {%- if lr_prefill_content is string -%}
    {%- set lr_prefill_text = lr_prefill_content -%}
  {%- else -%}
    {%- set lr_prefill_ns = namespace(text='') -%}
    {%- for part in lr_prefill_content -%}
      {%- if part['type'] == 'text' -%}{%- set lr_prefill_ns.text = part['text'] -%}{%- endif -%}
    {%- endfor -%}
    {%- set lr_prefill_text = lr_prefill_ns.text -%}
  {%- endif -%}
  {%- set lr_prefill_at = lr_prefill_body.rfind(lr_prefill_text) if lr_prefill_text | trim else -1 -%}
  {%- if lr_prefill_at < 0 and lr_prefill_text | trim -%}
    {%- set lr_prefill_text = lr_prefill_text | trim -%}
    {%- set lr_prefill_at = lr_prefill_body.rfind(lr_prefill_text) -%}
  {%- endif -%}
  {%- if lr_prefill_at < 0 -%}
    {{- raise_exception('prefill: the final assistant message is empty or does not appear in the rendered chat') -}}
  {%- endif -%}
  {{- lr_prefill_body[: lr_prefill_at + lr_prefill_text | length] -}}
{%- else -%}
  {{- lr_prefill_body -}}
{%- endif -%}"""


def prefill_chat_template(chat_template: str) -> str:
    """Wrap a chat template so a final assistant message is left open for the model to continue.

    The original template renders into a variable (with ``add_generation_prompt`` forced false when the last
    message is the assistant's); the output is cut right after the last text part of that message, as
    transformers' ``continue_final_message`` cuts it (where the template trims that text, after the trimmed text). An
    already wrapped template is returned unchanged.

    Example (TRL)::

        processor.chat_template = prefill_chat_template(processor.chat_template)
        processor.tokenizer.chat_template = processor.chat_template
    """
    if not isinstance(chat_template, str) or not chat_template:
        raise ValueError("prefill_chat_template needs the chat template string (processor.chat_template)")
    if chat_template.startswith(_MARK):
        return chat_template
    return _PRELUDE + chat_template + _EPILOGUE


def render_prompt(messages: list[dict[str, Any]], processing_class, **kwargs) -> str:
    """One conversation as prompt text: a final assistant message is continued (``continue_final_message``),
    otherwise the generation prompt is added. ``processing_class`` is a processor or tokenizer."""
    prefill = bool(messages) and messages[-1].get("role") == "assistant"
    return processing_class.apply_chat_template(messages, tokenize=False, add_generation_prompt=not prefill,
                                                continue_final_message=prefill, **kwargs)
