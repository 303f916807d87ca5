"""One client for OpenAI-compatible ``/v1/chat/completions`` servers (vLLM, SGLang, llama.cpp, the OpenAI API).

Shared by the consistency judge (``lmms_robust.judge.client``) and the perturbation writer
(``lmms_robust.perturbations``): the HTTP request, what counts as worth another try, retries with exponential
backoff, bounded concurrency, and an append-only JSONL reply cache. Stdlib only.

Failures are of two kinds. **Transient** (a timeout, a connection error, HTTP 5xx or 429) is worth another try.
**Permanent** (another 4xx, a body that is not a chat completion) is not: it is returned at once. A caller may also
pass ``check``: a reply it cannot use (e.g. malformed JSON) then counts as a failed try and is asked again, within the
same ``retries`` budget.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ChatClient", "Completion", "JsonlCache", "PermanentError", "TransientError", "api_key_from_env",
           "cache_key"]


class TransientError(Exception):
    """Worth another try (timeout, connection error, 5xx, 429)."""


class PermanentError(Exception):
    """Not worth another try (4xx, a body that is not a chat completion)."""


def cache_key(model: str, prompt: str) -> str:
    """sha256 of (model, rendered prompt): the key of a cached reply."""
    return hashlib.sha256(json.dumps([model, prompt], ensure_ascii=False).encode("utf-8")).hexdigest()


def api_key_from_env(name: str) -> str | None:
    """An API key from the environment variable ``name``; None when it is unset or empty."""
    return os.environ.get(name) or None


class JsonlCache:
    """Append-only JSONL of dicts, each with a ``key``; the last line for a key wins. ``path`` None: no cache.

    A line cut by a crash (not JSON) is ignored, so that entry is simply asked again. Thread-safe.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        if self.path is not None and self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue
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


@dataclass(frozen=True)
class Completion:
    """The outcome of ``ChatClient.complete`` for one prompt."""

    ok: bool
    value: Any = None
    """The accepted value: the reply text, or what ``check`` made of it."""
    reply: str | None = None
    """The last reply text the server gave (also on failure when the last try got a reply ``check`` refused)."""
    error: str | None = None
    """Why it failed: ``http_404``, ``malformed_json``, or ``failed after N tries: <last problem>``."""
    attempts: int = 0
    """Requests sent for this prompt."""
    permanent: bool = False
    """The failure was permanent (not retried)."""
    finish_reason: str | None = None
    """The server's ``choices[0].finish_reason`` for the accepted reply (``stop``, ``length``, …; None if absent)."""


class ChatClient:
    """One model behind an OpenAI-compatible server, asked with single-user-message prompts at a fixed temperature.

    Args:
        base_url: the server root (``http://host:8000``) or its ``/v1``; ``/v1/chat/completions`` is appended.
        model: the model name the server expects.
        api_key: sent as ``Authorization: Bearer``; None sends no header.
        max_concurrency: at most this many requests in flight (``map``/``completed`` thread pools).
        retries: extra tries after a transient failure or a reply ``check`` refused.
        timeout: seconds per request.
        backoff: seconds before the first retry, doubled each time.
        max_tokens: ``max_tokens`` of the request (None: the server's default).
        temperature: of the request (0: the same prompt should give the same reply).
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, max_concurrency: int = 8,
                 retries: int = 3, timeout: float = 60, backoff: float = 1.0, max_tokens: int | None = None,
                 temperature: float = 0):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        root = base_url.rstrip("/")
        self.url = root + ("/chat/completions" if root.endswith("/v1") else "/v1/chat/completions")
        self.model = model
        self.api_key = api_key
        self.max_concurrency = int(max_concurrency)
        self.retries = int(retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.requests_sent = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ asking

    def complete(self, prompt: str, check: Callable[[str], tuple[Any, str | None]] | None = None) -> Completion:
        """Ask once, retrying transient failures (and replies ``check`` refuses) with exponential backoff.

        ``check(reply) -> (value, problem)``: ``problem`` None accepts ``value``; otherwise the reply counts as a
        failed try. Without ``check`` any reply is accepted as it is.
        """
        attempts, last_error, last_reply = 0, None, None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            attempts += 1
            try:
                reply, finish_reason = self.post_reply(prompt)
            except TransientError as exc:
                last_error = str(exc)
                continue
            except PermanentError as exc:
                return Completion(ok=False, error=str(exc), attempts=attempts, permanent=True)
            if check is None:
                return Completion(ok=True, value=reply, reply=reply, attempts=attempts, finish_reason=finish_reason)
            value, problem = check(reply)
            if problem is None:
                return Completion(ok=True, value=value, reply=reply, attempts=attempts, finish_reason=finish_reason)
            last_error, last_reply = problem, reply
        return Completion(ok=False, reply=last_reply, error=f"failed after {attempts} tries: {last_error}",
                          attempts=attempts)

    def map(self, fn: Callable[[Any], Any], items: Sequence) -> list:
        """``[fn(x) for x in items]`` in order, at most ``max_concurrency`` calls at a time."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    def completed(self, fn: Callable[[Any], Any], items: Iterable) -> Iterator[tuple[Any, Any]]:
        """``(x, fn(x))`` as each call finishes (not in order), at most ``max_concurrency`` calls at a time.

        An exception raised by ``fn`` propagates when its result comes up; calls not started yet are cancelled.
        """
        items = list(items)
        if not items:
            return
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(items))) as pool:
            futures = {pool.submit(fn, x): x for x in items}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            finally:
                for future in futures:
                    future.cancel()

    # ----------------------------------------------------------------------------------------------- transport

    def post(self, prompt: str) -> str:
        """One request; the reply's ``choices[0].message.content``. Raises TransientError or PermanentError."""
        return self.post_reply(prompt)[0]

    def post_reply(self, prompt: str) -> tuple[str, str | None]:
        """One request; (``choices[0].message.content``, ``choices[0].finish_reason``). Raises TransientError or
        PermanentError."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": self.temperature}
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
                raise TransientError(f"http_{exc.code}") from None
            raise PermanentError(f"http_{exc.code}") from None
        except TimeoutError:
            raise TransientError("timeout") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise TransientError("timeout") from None
            raise TransientError(f"connection_error: {exc.reason}") from None
        except (OSError, http.client.HTTPException) as exc:
            raise TransientError(f"connection_error: {exc!r}") from None
        try:
            payload = json.loads(raw.decode("utf-8"))
            content = payload["choices"][0]["message"]["content"]
            finish_reason = payload["choices"][0].get("finish_reason")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise PermanentError("malformed_json") from None
        except (KeyError, IndexError, TypeError):
            raise PermanentError("malformed_response: no choices[0].message.content") from None
        if not isinstance(content, str):
            raise PermanentError("malformed_response: content is not text")
        return content, finish_reason if isinstance(finish_reason, str) else None
