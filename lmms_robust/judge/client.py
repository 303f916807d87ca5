"""An LLM judge of chain-of-thought consistency over an OpenAI-compatible ``/v1/chat/completions`` (PROTOCOL.md §4).

The prompt is ``templates/judge_consistency.jinja``; the judge must reply with exactly one
``<verdict>CONSISTENT|INCONSISTENT|NO_CONCLUSION</verdict>`` after its closed ``<think>`` block, if it thinks (a
verdict drafted inside the think block never counts), and the reply must have ended by itself
(``finish_reason == "stop"``; ``length`` means it was cut off). Nothing here guesses: any other reply, a think block
cut off before it closed, a timeout, a connection error or a 5xx/429 after the retries, a 4xx, or a body that is not
the expected JSON gives the verdict ``undetermined`` with the reason kept.

Verdicts: ``consistent``, ``inconsistent``, ``no_conclusion`` (the judge's), ``undetermined`` (the judge could not
be read) and ``not_applicable`` (nothing was sent: no CoT, an unparsed final answer, or a variant where consistency
does not apply, e.g. ``stopthink``).

Cache: one JSONL file under ``cache_dir`` (``judge_cache.jsonl``), keyed by sha256 of everything that changes
the reply: judge model, rendered prompt, ``max_tokens``, temperature and the SHA-256 of the prompt template. Only a
valid verdict (consistent / inconsistent / no_conclusion from a reply that stopped by itself) is cached and served;
an unreadable or cut-off reply and every transport failure are not, so a rerun (perhaps with more tokens) asks
exactly those again. A cache entry without a valid verdict (written by hand, or by an older version) is ignored with
a warning, never served and never a crash.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from lmms_robust.llm import ChatClient, JsonlCache
from lmms_robust.llm import api_key_from_env as _api_key_from_env
from lmms_robust.resources import render, templates_dir

__all__ = [
    "CACHE_FILE", "JUDGE_VERDICTS", "NOT_APPLICABLE", "TEMPLATE", "UNDETERMINED", "VERDICTS", "OpenAIJudge",
    "build_prompt", "judge_cache_key", "judge_records", "parse_verdict", "template_sha256",
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
_THINK_OPEN = re.compile(r"<[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_WORDS = {"CONSISTENT": "consistent", "INCONSISTENT": "inconsistent", "NO_CONCLUSION": "no_conclusion"}


def build_prompt(question: str, options: Sequence[tuple[str, str]] | Sequence[Sequence[str]], cot: str,
                 answer: str, answer_text: str | None = None) -> str:
    """The rendered judge prompt. ``options``: ``[(letter, text)]``, empty for free-form items."""
    return render(TEMPLATE, question=str(question), options=[(str(l), str(t)) for l, t in options], cot=str(cot),
                  answer=str(answer), answer_text=answer_text)


def parse_verdict(text, finish_reason: str | None = "stop") -> tuple[str, str | None]:
    """``(verdict, reason)`` from the judge's reply; ``("undetermined", why)`` unless exactly one valid tag after
    the think block and the reply stopped by itself.

    ``finish_reason``: the server's (``stop``; ``length`` when ``max_tokens`` cut the reply; None when the server
    does not say): anything but ``stop`` is undetermined, whatever the text holds. A ``<think>…</think>`` block is
    dropped first (reasoning judges draft verdicts there); a ``<think>`` that never closed is undetermined.
    """
    if not isinstance(text, str):
        return UNDETERMINED, "reply_not_text"
    if finish_reason != "stop":
        return UNDETERMINED, f"finish_reason_{finish_reason or 'missing'}"
    if len(_THINK_OPEN.findall(text)) > len(_THINK_CLOSE.findall(text)):
        return UNDETERMINED, "unclosed_think"
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


def judge_cache_key(model: str, prompt: str, max_tokens: int | None, temperature: float) -> str:
    """sha256 of everything that changes a judge's reply: model, prompt, max_tokens, temperature, template."""
    material = [model, prompt, max_tokens, temperature, template_sha256()]
    return hashlib.sha256(json.dumps(material, ensure_ascii=False).encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def template_sha256() -> str:
    """SHA-256 of the judge prompt template as shipped."""
    return hashlib.sha256((templates_dir() / TEMPLATE).read_bytes()).hexdigest()


def cached_verdict(cache: "_Cache", key: str) -> dict | None:
    """The cached result for ``key`` in ``judge_prompt``'s shape, or None."""
    hit = cache.get(key)
    if hit is None:
        return None
    return {"verdict": hit["verdict"], "reason": None, "reply": hit.get("reply"), "cached": True, "attempts": 0,
            "finish_reason": hit.get("finish_reason", "stop")}


def store_verdict(cache: "_Cache", key: str, model: str, result: dict) -> None:
    """Cache ``result`` if it holds a valid verdict; failures and unreadable or cut-off replies are never cached."""
    if result["verdict"] in JUDGE_VERDICTS:
        cache.put({"key": key, "model": model, "verdict": result["verdict"], "reply": result.get("reply"),
                   "finish_reason": result.get("finish_reason"), "template_sha256": template_sha256()})


def _valid_entry(entry: dict) -> bool:
    return entry.get("verdict") in JUDGE_VERDICTS


class _Cache(JsonlCache):
    """``cache_dir/judge_cache.jsonl`` of ``{key, model, verdict, reply, finish_reason, template_sha256}``;
    None: no cache. Entries without a valid verdict (an older version's, or edited by hand) are never served: a
    warning names their lines, and those items are asked again."""

    def __init__(self, directory: str | Path | None):
        super().__init__(Path(directory) / CACHE_FILE if directory is not None else None, accept=_valid_entry)
        if self.ignored:
            lines = ", ".join(map(str, self.ignored[:20])) + (" …" if len(self.ignored) > 20 else "")
            warnings.warn(f"{self.path}: line(s) {lines} hold no valid verdict (consistent, inconsistent or "
                          f"no_conclusion); ignored, those items are asked again", stacklevel=3)


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
        """``{verdict, reason, reply, cached, attempts, finish_reason}`` for one rendered prompt."""
        key = judge_cache_key(self.model, prompt, self.max_tokens, self.temperature)
        hit = cached_verdict(self.cache, key)
        if hit is not None:
            return hit
        done = self.complete(prompt)
        if not done.ok:
            return {"verdict": UNDETERMINED, "reason": done.error, "reply": None, "cached": False,
                    "attempts": done.attempts, "finish_reason": None}
        verdict, reason = parse_verdict(done.reply, done.finish_reason)
        result = {"verdict": verdict, "reason": reason, "reply": done.reply, "cached": False,
                  "attempts": done.attempts, "finish_reason": done.finish_reason}
        store_verdict(self.cache, key, self.model, result)
        return result

    def judge_prompts(self, prompts: Sequence[str]) -> list[dict]:
        """Results in the order of ``prompts``, at most ``max_concurrency`` requests at a time."""
        return self.map(self.judge_prompt, list(prompts))


def judge_records(records_with_text: Iterable[dict], judge: OpenAIJudge, *, rules_first: bool = False) -> list[dict]:
    """One verdict dict per record, in order.

    Each input holds ``question``, ``options`` (``[(letter, text)]``), ``cot`` (None: no think block), ``answer``
    (None: unparsed), optionally ``answer_text``, ``consistency_applicable`` (default True) and any identifying
    keys (``item_id``, ``variant``, ``task``, ``benchmark``, ``model``, ``rule_label``), which are copied through.
    Records without a CoT, without a parsed answer, or where consistency does not apply get ``not_applicable``
    and send nothing. With ``rules_first``, a record whose ``rule_label`` is ``consistent`` or ``inconsistent``
    (the rules found a conclusion) keeps it and sends nothing either.

    Returns:
        ``{**ids, "judge": model, "verdict", "reason", "cached", "attempts", "source"}``; ``source`` is ``judge``,
        ``rules`` (rules first, decided by the rules) or None (not applicable).
    """
    records = list(records_with_text)
    prompts: list[str | None] = []
    for record in records:
        applicable = (record.get("consistency_applicable", True) and record.get("answer") is not None
                      and record.get("cot") is not None and str(record.get("cot")).strip() != "")
        decided = rules_first and record.get("rule_label") in ("consistent", "inconsistent")
        prompts.append(build_prompt(record.get("question", ""), record.get("options") or (), record["cot"],
                                    record["answer"], record.get("answer_text")) if applicable and not decided
                       else None)
    results = iter(judge.judge_prompts([p for p in prompts if p is not None]))
    out = []
    for record, prompt in zip(records, prompts):
        ids = {k: record[k] for k in ("model", "task", "benchmark", "item_id", "variant", "rule_label") if k in record}
        if prompt is None:
            if rules_first and record.get("rule_label") in ("consistent", "inconsistent"):
                out.append({**ids, "judge": judge.model, "verdict": record["rule_label"], "reason": "rules",
                            "cached": False, "attempts": 0, "source": "rules"})
                continue
            why = ("consistency_not_applicable" if not record.get("consistency_applicable", True)
                   else "answer_unparsed" if record.get("answer") is None else "no_cot")
            out.append({**ids, "judge": judge.model, "verdict": NOT_APPLICABLE, "reason": why, "cached": False,
                        "attempts": 0, "source": None})
            continue
        result = next(results)
        out.append({**ids, "judge": judge.model, "verdict": result["verdict"], "reason": result["reason"],
                    "cached": result["cached"], "attempts": result["attempts"], "source": "judge"})
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
