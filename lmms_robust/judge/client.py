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

import hashlib
import http.client
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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


def cache_key(model: str, prompt: str) -> str:
    return hashlib.sha256(json.dumps([model, prompt], ensure_ascii=False).encode("utf-8")).hexdigest()


def cached_verdict(cache: "_Cache", model: str, prompt: str) -> tuple[str, dict | None]:
    """The cache key of (model, prompt) and the cached result in ``judge_prompt``'s shape, or None."""
    key = cache_key(model, prompt)
    hit = cache.get(key)
    if hit is None:
        return key, None
    return key, {"verdict": hit["verdict"], "reason": hit.get("reason"), "reply": hit.get("reply"), "cached": True,
                 "attempts": 0}


class _Cache:
    """Append-only JSONL ``{key, model, verdict, reason, reply}``; the last line for a key wins."""

    def __init__(self, directory: str | Path | None):
        self.path = Path(directory) / CACHE_FILE if directory is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: ignored, asked again
                if isinstance(entry, dict) and isinstance(entry.get("key"), str):
                    self._entries[entry["key"]] = entry

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, entry: dict) -> None:
        if self.path is None:
            return
        with self._lock:
            self._entries[entry["key"]] = entry
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


class _Transient(Exception):
    """Worth another try (timeout, connection error, 5xx, 429)."""


class OpenAIJudge:
    """One judge model behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp, the OpenAI API).

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
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        root = base_url.rstrip("/")
        self.url = root + ("/chat/completions" if root.endswith("/v1") else "/v1/chat/completions")
        self.model = model
        self.api_key = api_key
        self.max_concurrency = int(max_concurrency)
        self.retries = int(retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.max_tokens = max_tokens
        self.cache = _Cache(cache_dir)
        self.requests_sent = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ judging

    def judge_prompt(self, prompt: str) -> dict:
        """``{verdict, reason, reply, cached, attempts}`` for one rendered prompt."""
        key, hit = cached_verdict(self.cache, self.model, prompt)
        if hit is not None:
            return hit
        attempts, last_error = 0, None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            attempts += 1
            try:
                reply = self._post(prompt)
            except _Transient as exc:
                last_error = str(exc)
                continue
            except _Permanent as exc:
                return {"verdict": UNDETERMINED, "reason": str(exc), "reply": None, "cached": False,
                        "attempts": attempts}
            verdict, reason = parse_verdict(reply)
            self.cache.put({"key": key, "model": self.model, "verdict": verdict, "reason": reason, "reply": reply})
            return {"verdict": verdict, "reason": reason, "reply": reply, "cached": False, "attempts": attempts}
        return {"verdict": UNDETERMINED, "reason": f"failed after {attempts} tries: {last_error}", "reply": None,
                "cached": False, "attempts": attempts}

    def judge_prompts(self, prompts: Sequence[str]) -> list[dict]:
        """Results in the order of ``prompts``, at most ``max_concurrency`` requests at a time."""
        if not prompts:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(prompts))) as pool:
            return list(pool.map(self.judge_prompt, prompts))

    # ----------------------------------------------------------------------------------------------- transport

    def _post(self, prompt: str):
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}
        if self.max_tokens is not None:
            body["max_tokens"] = int(self.max_tokens)
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers,
                                         method="POST")
        with self._count_lock:
            self.requests_sent += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise _Transient(f"http_{exc.code}") from None
            raise _Permanent(f"http_{exc.code}") from None
        except TimeoutError:
            raise _Transient("timeout") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise _Transient("timeout") from None
            raise _Transient(f"connection_error: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise _Transient(f"connection_error: {exc!r}") from None
        try:
            payload = json.loads(raw.decode("utf-8"))
            content = payload["choices"][0]["message"]["content"]
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _Permanent("malformed_json") from None
        except (KeyError, IndexError, TypeError):
            raise _Permanent("malformed_response: no choices[0].message.content") from None
        if not isinstance(content, str):
            raise _Permanent("malformed_response: content is not text")
        return content


class _Permanent(Exception):
    """Not worth another try (4xx, a body that is not a chat completion)."""


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
    return os.environ.get(name) or None
