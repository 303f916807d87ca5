"""One client for OpenAI-compatible ``/v1/chat/completions`` servers (vLLM, SGLang, llama.cpp, the OpenAI API).

Shared by the consistency judge (``lmms_robust.judge.client``) and the perturbation writer
(``lmms_robust.perturbations``): the HTTP request, what counts as worth another try, retries with exponential
backoff, bounded concurrency, and an append-only JSONL reply cache. Stdlib only.

Failures are of two kinds. **Transient** (a timeout, a connection error, HTTP 5xx or 429) is worth another try.
**Permanent** (another 4xx, a redirect, a reply over the size cap, a body that is not a chat completion) is not: it is
returned at once. A caller may also pass ``check``: a reply it cannot use (e.g. malformed JSON) then counts as a
failed try and is asked again, within the same ``retries`` budget.

What a hostile or broken server cannot do: make the client follow a redirect (none is followed, so the API key
never goes to another origin), hold a request past ``timeout`` (one deadline for connecting, sending and reading
the whole reply, not per socket read), or hand over more than ``max_reply_bytes``. A 429/503 with ``Retry-After``
is waited out (at least that long, at most ``max_retry_wait`` seconds; asking for longer ends the retries).
Connections go straight to the server: proxy environment variables are not used.
"""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmms_robust.jsonl import append_lines, read_jsonl

__all__ = ["ChatClient", "ChatReply", "Completion", "JsonlCache", "PermanentError", "TransientError",
           "api_key_from_env", "cache_key"]

MAX_REPLY_BYTES = 8 * 1024 * 1024
"""Default cap on a reply body: a chat completion is kilobytes; anything near this is not one."""
MAX_RETRY_WAIT = 120.0
"""Default longest ``Retry-After`` wait honoured (seconds)."""


class TransientError(Exception):
    """Worth another try (timeout, connection error, 5xx, 429). ``retry_after``: seconds the server asked to wait."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Not worth another try (4xx, a redirect, a reply too large, a body that is not a chat completion)."""


def cache_key(model: str, prompt: str) -> str:
    """sha256 of (model, rendered prompt): the key of a cached reply (a lone surrogate in the prompt is kept as is)."""
    text = json.dumps([model, prompt], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def api_key_from_env(name: str) -> str | None:
    """An API key from the environment variable ``name``; None when it is unset or empty."""
    return os.environ.get(name) or None


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)


class JsonlCache:
    """Append-only JSONL of dicts, each with a ``key``; the last line for a key wins. ``path`` None: no cache.

    Read with ``lmms_robust.jsonl``: a last line cut by a crash is dropped (and cut from the file, so the next entry
    starts on its own line): that entry is simply asked again. Any other unreadable line (not UTF-8, not JSON) is a
    ``JsonlError`` naming ``file:line`` and the fix. ``accept(entry) -> bool``: entries it refuses (and lines that are
    not an object with a string ``key``) are never served; their line numbers are in ``ignored``. Thread-safe.
    """

    def __init__(self, path: str | Path | None, accept: Callable[[dict], bool] | None = None):
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._entries: dict[str, dict] = {}
        self.ignored: list[int] = []
        """Line numbers of entries that are never served (not ``{key: ...}``, or refused by ``accept``)."""
        if self.path is not None and self.path.is_file():
            read = read_jsonl(self.path, torn_tail="skip", lone_surrogates="keep",
                              fix="delete that line, or the whole cache file (its entries are only asked again)")
            if read.torn_offset is not None:
                os.truncate(self.path, read.torn_offset)
            for number, entry in read.rows:
                if (isinstance(entry, dict) and isinstance(entry.get("key"), str)
                        and (accept is None or accept(entry))):
                    self._entries[entry["key"]] = entry
                else:
                    self.ignored.append(number)

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self._entries.get(key)

    def put(self, entry: dict) -> None:
        if self.path is None:
            return
        with self._lock:
            self._entries[entry["key"]] = entry
            append_lines(self.path, [entry])


@dataclass(frozen=True)
class ChatReply:
    """One chat completion as the server sent it."""

    content: str
    finish_reason: str | None
    """``choices[0].finish_reason`` (``stop``, ``length``, ...); None when the server gives none."""


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
    """The last reply's ``finish_reason`` (``stop``: the model ended it; ``length``: cut at max_tokens)."""


class ChatClient:
    """One model behind an OpenAI-compatible server, asked with single-user-message prompts at a fixed temperature.

    Args:
        base_url: the server root (``http://host:8000``) or its ``/v1``; ``/v1/chat/completions`` is appended.
        model: the model name the server expects.
        api_key: sent as ``Authorization: Bearer``; None sends no header.
        max_concurrency: at most this many requests in flight (``map``/``completed`` thread pools).
        retries: extra tries after a transient failure or a reply ``check`` refused.
        timeout: seconds per request, in all: connecting, sending and reading the whole reply.
        backoff: seconds before the first retry, doubled each time (a longer ``Retry-After`` wins).
        max_tokens: ``max_tokens`` of the request (None: the server's default).
        temperature: of the request (0: the same prompt should give the same reply).
        max_reply_bytes: a larger reply body is refused (permanent: asking again would give the same).
        max_retry_wait: the longest ``Retry-After`` honoured; a server asking for more ends the retries.
    """

    def __init__(self, base_url: str, model: str, api_key: str | None = None, max_concurrency: int = 8,
                 retries: int = 3, timeout: float = 60, backoff: float = 1.0, max_tokens: int | None = None,
                 temperature: float = 0, max_reply_bytes: int = MAX_REPLY_BYTES,
                 max_retry_wait: float = MAX_RETRY_WAIT):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, got {retries}")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if max_reply_bytes < 1:
            raise ValueError(f"max_reply_bytes must be positive, got {max_reply_bytes}")
        root = base_url.rstrip("/")
        self.url = root + ("/chat/completions" if root.endswith("/v1") else "/v1/chat/completions")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base URL {base_url!r}: give http://host:port or https://host (an OpenAI-compatible "
                             f"server root)")
        self._parts = parts
        self.model = model
        self.api_key = api_key
        self.max_concurrency = int(max_concurrency)
        self.retries = int(retries)
        self.timeout = float(timeout)
        self.backoff = float(backoff)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_reply_bytes = int(max_reply_bytes)
        self.max_retry_wait = float(max_retry_wait)
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        self._sleep = time.sleep  # tests record the waits instead of sleeping

    # ------------------------------------------------------------------------------------------------ asking

    def complete(self, prompt: str, check: Callable[[str], tuple[Any, str | None]] | None = None) -> Completion:
        """Ask once, retrying transient failures (and replies ``check`` refuses) with exponential backoff.

        ``check(reply) -> (value, problem)``: ``problem`` None accepts ``value``; otherwise the reply counts as a
        failed try. Without ``check`` any reply is accepted as it is.
        """
        attempts, last_error, last_reply, finish, wait = 0, None, None, None, 0.0
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(max(wait, self.backoff * 2 ** (attempt - 1)))
            attempts += 1
            wait = 0.0
            try:
                answer = self.ask(prompt)
            except TransientError as exc:
                last_error = str(exc)
                if exc.retry_after is not None:
                    if exc.retry_after > self.max_retry_wait:
                        last_error += (f" (the server asked to wait {exc.retry_after:g} s, more than max_retry_wait "
                                       f"{self.max_retry_wait:g} s)")
                        break
                    wait = exc.retry_after
                continue
            except PermanentError as exc:
                return Completion(ok=False, error=str(exc), attempts=attempts, permanent=True)
            reply, finish = answer.content, answer.finish_reason
            if check is None:
                return Completion(ok=True, value=reply, reply=reply, attempts=attempts, finish_reason=finish)
            value, problem = check(reply)
            if problem is None:
                return Completion(ok=True, value=value, reply=reply, attempts=attempts, finish_reason=finish)
            last_error, last_reply = problem, reply
        return Completion(ok=False, reply=last_reply, error=f"failed after {attempts} tries: {last_error}",
                          attempts=attempts, finish_reason=finish if last_reply is not None else None)

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
        return self.ask(prompt).content

    def ask(self, prompt: str) -> ChatReply:
        """One request; the reply's content and finish reason. Raises TransientError or PermanentError."""
        body = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                "temperature": self.temperature}
        if self.max_tokens is not None:
            body["max_tokens"] = int(self.max_tokens)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode("utf-8")
        with self._count_lock:
            self.requests_sent += 1
        status, reply_headers, raw = self._exchange(data, headers)
        if 300 <= status < 400:
            location = reply_headers.get("Location", "?")
            raise PermanentError(f"http_{status}: the server redirects to {location}; redirects are never followed "
                                 f"(the API key would go with them): give the final URL as the base URL")
        if status >= 500 or status == 429:
            raise TransientError(f"http_{status}", retry_after=retry_after_seconds(reply_headers.get("Retry-After")))
        if status >= 400 or status < 200:
            raise PermanentError(f"http_{status}")
        try:
            payload = json.loads(raw.decode("utf-8"))
            choice = payload["choices"][0]
            content = choice["message"]["content"]
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise PermanentError("malformed_json") from None
        except (KeyError, IndexError, TypeError):
            raise PermanentError("malformed_response: no choices[0].message.content") from None
        if not isinstance(content, str):
            raise PermanentError("malformed_response: content is not text")
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        return ChatReply(content=content, finish_reason=finish if isinstance(finish, str) else None)

    def _exchange(self, data: bytes, headers: dict) -> tuple[int, http.client.HTTPMessage, bytes]:
        """POST ``data``; (status, headers, body). A watchdog shuts the socket at the deadline, whatever it waits on."""
        parts = self._parts
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=self.timeout,
                                                     context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=self.timeout)
        expired = threading.Event()
        opened: list[socket.socket] = []  # the socket itself: http.client drops connection.sock once a reply that
        # closes the connection has begun, while the reply keeps reading from it

        def expire() -> None:
            expired.set()
            for sock in opened:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(self.timeout, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.connect()
            opened.append(connection.sock)
            if expired.is_set():
                raise TimeoutError
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            connection.request("POST", target, body=data, headers=headers)
            response = connection.getresponse()
            declared = response.getheader("Content-Length")
            if declared is not None and declared.strip().isdigit() and int(declared) > self.max_reply_bytes:
                raise PermanentError(f"reply_too_large: {int(declared)} bytes declared, more than max_reply_bytes "
                                     f"{self.max_reply_bytes}")
            chunks, size = [], 0
            while True:
                chunk = response.read(min(65536, self.max_reply_bytes + 1 - size))
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise PermanentError(f"reply_too_large: more than max_reply_bytes {self.max_reply_bytes}")
                chunks.append(chunk)
            if expired.is_set():  # the socket was shut mid-body: what was read is not the whole reply
                raise TimeoutError
            return response.status, response.headers, b"".join(chunks)
        except PermanentError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise TransientError(f"timeout: no complete reply within {self.timeout:g} s") from None
            raise TransientError(f"connection_error: {exc!r}") from None
        finally:
            watchdog.cancel()
            connection.close()
