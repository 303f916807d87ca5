"""An LLM judge of chain-of-thought consistency over an OpenAI-compatible ``/v1/chat/completions`` (PROTOCOL.md §4).

The prompt is ``templates/judge_consistency.jinja``; the judge must reply with exactly one
``<verdict>CONSISTENT|INCONSISTENT|NO_CONCLUSION</verdict>`` (a ``<think>`` block before it is ignored). Nothing
here guesses: any other reply, a timeout, a connection error or a 5xx/429 after the retries, a 4xx, or a body
that is not the expected JSON gives the verdict ``undetermined`` with the reason kept.

Verdicts: ``consistent``, ``inconsistent``, ``no_conclusion`` (the judge's), ``undetermined`` (the judge could not
be read) and ``not_applicable`` (nothing was sent: no CoT, an unparsed final answer, or a variant where consistency
does not apply, e.g. ``stopthink``).

Cache: one JSONL file per judge under ``cache_dir`` (``judge_cache.jsonl``), keyed by sha256 of (judge model,
rendered prompt). Every reply the server gave (HTTP 200 with a chat-completions body) is cached, malformed verdict
text included (temperature 0: asking again would give the same); transport failures (timeouts, 5xx, connection
errors, unreadable bodies) are not, so a rerun retries exactly those and sends nothing for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from lmms_robust.llm import ChatClient, JsonlCache, cache_key
from lmms_robust.llm import api_key_from_env as _api_key_from_env
from lmms_robust.resources import render

__all__ = [
    "CACHE_FILE", "JUDGE_VERDICTS", "NOT_APPLICABLE", "TEMPLATE", "UNDETERMINED", "VERDICTS", "OpenAIJudge",
    "build_prompt", "cache_key", "judge_records", "parse_verdict",
]

TEMPLATE = "judge_consistency.jinja"
CACHE_FILE = "judge_cache.jsonl"
JUDGE_VERDICTS = ("consistent", "inconsistent", "no_conclusion")
UNDETERMINED = "undetermined"
NOT_APPLICABLE = "not_applicable"
VERDICTS = (*JUDGE_VERDICTS, UNDETERMINED, NOT_APPLICABLE)

_VERDICT_TAG = re.compile(r"<[ \t]{0,3}verdict[ \t]{0,3}>(.{0,200}?)<[ \t]{0,3}/[ \t]{0,3}verdict[ \t]{0,3}>",
                          re.IGNORECASE | re.DOTALL)
_ANY_VERDICT_OPEN = re.compile(r"<[ \t]{0,3}verdict[ \t]{0,3}>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_WORDS = {"CONSISTENT": "consistent", "INCONSISTENT": "inconsistent", "NO_CONCLUSION": "no_conclusion"}


def build_prompt(question: str, options: Sequence[tuple[str, str]] | Sequence[Sequence[str]], cot: str,
                 answer: str, answer_text: str | None = None) -> str:
    """The rendered judge prompt. ``options``: ``[(letter, text)]``, empty for free-form items."""
    return render(TEMPLATE, question=str(question), options=[(str(l), str(t)) for l, t in options], cot=str(cot),
                  answer=str(answer), answer_text=answer_text)


def parse_verdict(text) -> tuple[str, str | None]:
    """``(verdict, reason)`` from the judge's reply; ``("undetermined", why)`` unless exactly one valid tag.

    A ``<think>…</think>`` block before the verdict is dropped first (reasoning judges draft verdicts there).
    """
    if not isinstance(text, str):
        return UNDETERMINED, "reply_not_text"
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    tags = _VERDICT_TAG.findall(text)
    if not tags:
        reason = "unclosed_verdict_tag" if _ANY_VERDICT_OPEN.search(text) else "no_verdict_tag"
        return UNDETERMINED, reason
    if len(tags) > 1 or len(_ANY_VERDICT_OPEN.findall(text)) > 1:
        return UNDETERMINED, "several_verdict_tags"
    word = tags[0].strip().strip("*_`'\"").strip().upper().replace(" ", "_")
    if word not in _WORDS:
        return UNDETERMINED, f"unknown_verdict:{tags[0].strip()[:40]}"
    return _WORDS[word], None


def cached_verdict(cache: "_Cache", model: str, prompt: str) -> tuple[str, dict | None]:
    """The cache key of (model, prompt) and the cached result in ``judge_prompt``'s shape, or None."""
    key = cache_key(model, prompt)
    hit = cache.get(key)
    if hit is None:
        return key, None
    return key, {"verdict": hit["verdict"], "reason": hit.get("reason"), "reply": hit.get("reply"), "cached": True,
                 "attempts": 0}


class _Cache(JsonlCache):
    """``cache_dir/judge_cache.jsonl`` of ``{key, model, verdict, reason, reply}``; None: no cache."""

    def __init__(self, directory: str | Path | None):
        super().__init__(Path(directory) / CACHE_FILE if directory is not None else None)


class OpenAIJudge(ChatClient):
    """One judge model behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp, the OpenAI API).

    The transport (request, retries with backoff, bounded concurrency, transient vs permanent failures) is
    ``lmms_robust.llm.ChatClient``'s; this class adds the verdict parsing and the verdict cache.

    Args:
        base_url: the server root (``http://host:8000``) or its ``/v1``; ``/v1/chat/completions`` is appended.
        model: the model name the server expects; also part of the cache key.
        api_key: sent as ``Authorization: Bearer``; None sends no header.
        max_concurrency: at most this many requests in flight (thread pool).
        retries: extra tries after a transient failure (timeout, connection error, 5xx, 429).
        timeout: seconds per request.
        cache_dir: where ``judge_cache.jsonl`` lives; None disables the cache.
        backoff: seconds before the first retry, doubled each time.
        max_tokens: ``max_tokens`` of the request (None: the server's default; reasoning judges need room).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, max_concurrency: int = 8,
                 retries: int = 3, timeout: float = 60, cache_dir: str | Path | None = None, backoff: float = 1.0,
                 max_tokens: int | None = None):
        super().__init__(base_url, model, api_key=api_key, max_concurrency=max_concurrency, retries=retries,
                         timeout=timeout, backoff=backoff, max_tokens=max_tokens, temperature=0)
        self.cache = _Cache(cache_dir)

    def judge_prompt(self, prompt: str) -> dict:
        """``{verdict, reason, reply, cached, attempts}`` for one rendered prompt."""
        key, hit = cached_verdict(self.cache, self.model, prompt)
        if hit is not None:
            return hit
        done = self.complete(prompt)
        if not done.ok:
            return {"verdict": UNDETERMINED, "reason": done.error, "reply": None, "cached": False,
                    "attempts": done.attempts}
        verdict, reason = parse_verdict(done.reply)
        self.cache.put({"key": key, "model": self.model, "verdict": verdict, "reason": reason, "reply": done.reply})
        return {"verdict": verdict, "reason": reason, "reply": done.reply, "cached": False,
                "attempts": done.attempts}

    def judge_prompts(self, prompts: Sequence[str]) -> list[dict]:
        """Results in the order of ``prompts``, at most ``max_concurrency`` requests at a time."""
        return self.map(self.judge_prompt, list(prompts))


def judge_records(records_with_text: Iterable[dict], judge: OpenAIJudge) -> list[dict]:
    """One verdict dict per record, in order.

    Each input holds ``question``, ``options`` (``[(letter, text)]``), ``cot`` (None: no think block), ``answer``
    (None: unparsed), optionally ``answer_text``, ``consistency_applicable`` (default True) and any identifying
    keys (``item_id``, ``variant``, ``task``, ``benchmark``, ``model``, ``rule_label``), which are copied through.
    Records without a CoT, without a parsed answer, or where consistency does not apply get ``not_applicable``
    and send nothing.

    Returns:
        ``{**ids, "judge": model, "verdict", "reason", "cached", "attempts"}``.
    """
    records = list(records_with_text)
    prompts: list[str | None] = []
    for record in records:
        applicable = (record.get("consistency_applicable", True) and record.get("answer") is not None
                      and record.get("cot") is not None and str(record.get("cot")).strip() != "")
        prompts.append(build_prompt(record.get("question", ""), record.get("options") or (), record["cot"],
                                    record["answer"], record.get("answer_text")) if applicable else None)
    results = iter(judge.judge_prompts([p for p in prompts if p is not None]))
    out = []
    for record, prompt in zip(records, prompts):
        ids = {k: record[k] for k in ("model", "task", "benchmark", "item_id", "variant", "rule_label") if k in record}
        if prompt is None:
            why = ("consistency_not_applicable" if not record.get("consistency_applicable", True)
                   else "answer_unparsed" if record.get("answer") is None else "no_cot")
            out.append({**ids, "judge": judge.model, "verdict": NOT_APPLICABLE, "reason": why, "cached": False,
                        "attempts": 0})
            continue
        result = next(results)
        out.append({**ids, "judge": judge.model, "verdict": result["verdict"], "reason": result["reason"],
                    "cached": result["cached"], "attempts": result["attempts"]})
    return out


def judge_parsed(judge, item, parsed) -> str:
    """A judge's lower-case verdict on one parsed response of ``item``; ``undetermined`` if judging fails.

    ``judge``: anything with ``judge_prompt(prompt) -> {"verdict": ...}`` (``OpenAIJudge``, ``TransformersJudge``).
    The caller decides first that there is something to judge (a parsed answer and a CoT).
    """
    options = list(zip(item.letters, item.options))
    answer_text = dict(options).get(parsed.answer) if item.is_multiple_choice else None
    try:
        reply = judge.judge_prompt(build_prompt(item.question, options, parsed.cot, parsed.answer, answer_text))
        return str(reply.get("verdict", UNDETERMINED)).lower()
    except Exception:  # noqa: BLE001 - a failed judgement is undetermined, never a guess, and callers must not raise
        return UNDETERMINED


def api_key_from_env(name: str = "LMMS_ROBUST_JUDGE_API_KEY") -> str | None:
    """The judge's API key from the environment variable the user named (none by default)."""
    return _api_key_from_env(name)
