"""The shared HTTP client (lmms_robust/llm.py) against scripted servers on 127.0.0.1 (issue 15, point 4).

Reproducers: a 302 to another origin was followed with ``Authorization: Bearer`` (the key leaked) and its reply
accepted; ``--timeout 3`` bounded each socket read, not the request (40 s per try against a server trickling its
reply); a 200 MB reply was accepted and cached; ``Retry-After`` was ignored. Every loop here is bounded and every
server stops itself.
"""

from __future__ import annotations

import json
import threading
import time
from email.utils import formatdate

import pytest

from lmms_robust.judge.client import CACHE_FILE, OpenAIJudge
from lmms_robust.llm import ChatClient, retry_after_seconds
from tests.judge.server import ScriptedServer

KEY = "sk-secret-key"


def chat_body(content: str = "hello", finish_reason: str | None = "stop") -> bytes:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    if finish_reason is not None:
        choice["finish_reason"] = finish_reason
    return json.dumps({"object": "chat.completion", "choices": [choice]}).encode()


class Scripted(ScriptedServer):
    """Answers each request with ``self.script(server, handler, n)`` (n counts requests from 1); records the
    Authorization header of every request."""

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.auth: list[str | None] = []
        self.sent_chunks = 0
        self.gave_up = threading.Event()

    def handle(self, h):
        h.rfile.read(int(h.headers["Content-Length"]))
        with self.lock:
            self.auth.append(h.headers.get("Authorization"))
            n = len(self.auth)
        self.script(self, h, n)


@pytest.fixture
def servers():
    started = []

    def start(script) -> Scripted:
        server = Scripted(script).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def client(server, **kw) -> ChatClient:
    return ChatClient(server.base_url, "m", api_key=KEY, **{"retries": 0, "timeout": 5, "backoff": 0.01, **kw})


# ------------------------------------------------------------------------------------------------ redirects


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_not_followed_and_the_key_stays_home(servers, code):
    other = servers(lambda s, h, n: s.send(h, 200, chat_body("from the other origin")))

    def redirect(s, h, n):
        s.release(h)
        h.send_response(code)
        h.send_header("Location", f"{other.base_url}/v1/chat/completions")
        h.send_header("Content-Length", "0")
        h.end_headers()

    home = servers(redirect)
    done = client(home, retries=3).complete("hi")
    assert not done.ok and done.permanent and done.attempts == 1
    assert done.error.startswith(f"http_{code}: the server redirects to {other.base_url}")
    assert "redirects are never followed" in done.error
    assert other.requests == 0 and other.auth == []  # nothing, and no key, reached the other origin
    assert home.auth == [f"Bearer {KEY}"]


# ------------------------------------------------------------------------------------------------ deadline

TRICKLE_BYTES = 200


def trickle(s, h, n):
    """Headers at once, then the body one byte every 50 ms (10 s in all): each read is quick, the reply is not."""
    body = chat_body("x" * (TRICKLE_BYTES - len(chat_body(""))))
    s.release(h)
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    for k in range(len(body)):  # bounded: one pass over the body
        try:
            h.wfile.write(body[k:k + 1])
            h.wfile.flush()
        except OSError:
            s.gave_up.set()
            return
        with s.lock:
            s.sent_chunks += 1
        time.sleep(0.05)


def test_the_timeout_bounds_the_whole_request_not_each_read(servers):
    server = servers(trickle)
    done = client(server, timeout=0.5).complete("hi")
    assert not done.ok and done.error == "failed after 1 tries: timeout: no complete reply within 0.5 s"
    with server.lock:
        sent = server.sent_chunks
    assert sent < TRICKLE_BYTES // 2  # the client stopped listening long before the trickle ended
    assert server.gave_up.wait(5)  # and closed the connection: the server's next write failed


def test_a_server_that_never_answers_is_a_timeout(servers):
    stop = threading.Event()
    server = servers(lambda s, h, n: stop.wait(3))
    try:
        done = client(server, timeout=0.3, retries=1).complete("hi")
    finally:
        stop.set()
    assert not done.ok and done.attempts == 2 and "timeout" in done.error


# ------------------------------------------------------------------------------------------------ size cap


def oversized(s, h, n):
    s.send(h, 200, chat_body("y" * 5000))


def close_delimited(s, h, n):
    """A body without Content-Length (HTTP/1.0 style: it ends when the connection closes)."""
    s.release(h)
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Connection", "close")
    h.end_headers()
    try:
        h.wfile.write(chat_body("z" * 5000))
    except OSError:
        pass
    h.close_connection = True


@pytest.mark.parametrize("script, declared", [(oversized, True), (close_delimited, False)])
def test_a_reply_over_the_size_cap_is_refused_and_not_cached(servers, tmp_path, script, declared):
    server = servers(script)
    done = client(server, retries=2, max_reply_bytes=1000).complete("hi")
    assert not done.ok and done.permanent and done.attempts == 1
    assert done.error.startswith("reply_too_large: ")
    assert ("declared" in done.error) == declared
    judge = OpenAIJudge(server.base_url, "j", retries=0, timeout=5, cache_dir=tmp_path)
    judge.max_reply_bytes = 1000
    assert judge.judge_prompt("hi")["verdict"] == "undetermined"
    assert not (tmp_path / CACHE_FILE).exists()


def test_a_reply_under_the_cap_comes_through_with_its_finish_reason(servers):
    server = servers(lambda s, h, n: s.send(h, 200, chat_body("cut", finish_reason="length")))
    done = client(server, max_reply_bytes=1000).complete("hi")
    assert done.ok and done.value == "cut" and done.finish_reason == "length"


# ---------------------------------------------------------------------------------------------- Retry-After


def busy_then_ok(header: str | None, code: int = 429, busy: int = 1):
    def script(s, h, n):
        if n <= busy:
            s.release(h)
            h.send_response(code)
            if header is not None:
                h.send_header("Retry-After", header)
            h.send_header("Content-Length", "2")
            h.end_headers()
            h.wfile.write(b"{}")
            return
        s.send(h, 200, chat_body("ok"))
    return script


@pytest.mark.parametrize("header, code, expected", [("2", 429, [2.0]), ("7", 503, [7.0]), (None, 429, [0.01]),
                                                    ("0", 429, [0.01]), ("soon", 503, [0.01])])
def test_retry_after_is_waited_out_before_the_next_try(servers, header, code, expected):
    server = servers(busy_then_ok(header, code))
    c = client(server, retries=2)
    waits: list[float] = []
    c._sleep = waits.append  # the waits are recorded, not slept
    done = c.complete("hi")
    assert done.ok and done.attempts == 2 and waits == expected


def test_retry_after_as_an_http_date(servers):
    server = servers(busy_then_ok(formatdate(time.time() + 30, usegmt=True)))
    c = client(server, retries=1)
    waits: list[float] = []
    c._sleep = waits.append
    assert c.complete("hi").ok
    assert len(waits) == 1 and 25 <= waits[0] <= 31


def test_a_retry_after_beyond_the_longest_wait_ends_the_retries(servers):
    server = servers(busy_then_ok("3600", busy=5))
    c = client(server, retries=3, max_retry_wait=60)
    waits: list[float] = []
    c._sleep = waits.append
    done = c.complete("hi")
    assert not done.ok and done.attempts == 1 and waits == [] and server.requests == 1
    assert "asked to wait 3600 s, more than max_retry_wait 60 s" in done.error


@pytest.mark.parametrize("value, expected", [("5", 5.0), (" 1.5 ", 1.5), ("-3", 0.0), ("nan", None), ("", None),
                                             (None, None), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_values(value, expected):
    assert retry_after_seconds(value, now=1e10) == expected


def test_base_urls_other_than_http_are_refused():
    for url in ("file:///etc/passwd", "ftp://h/x", "127.0.0.1:8000"):
        with pytest.raises(ValueError, match="give http://host:port"):
            ChatClient(url, "m")
