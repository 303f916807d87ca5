"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for the judge tests (loopback only).

The prompt names its behaviour with ``MODE=<name>`` (the question text carries it): a verdict word (a thinking
judge's reply: a draft verdict inside ``<think>``, the verdict after it, ``finish_reason: stop``), ``garbage``
(text without a verdict tag), ``badjson``, ``nochoices``, ``sleep`` (longer than the client's timeout),
``flaky`` (503 twice for that prompt, then a verdict), ``down`` (503 always), ``slow`` (0.2 s, then a verdict),
``thinker`` (a thinking judge that needs room: with ``max_tokens`` under 64 it is cut off inside its think block,
``finish_reason: length``, after drafting ``<verdict>CONSISTENT</verdict>``; with more it closes the block and says
INCONSISTENT), ``nofinish`` (a verdict, but no ``finish_reason`` in the reply).
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLEEP_S = 1.0
LIFETIME_S = 60.0


class ScriptedServer:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.per_prompt: dict[str, int] = {}
        self.bodies: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                with server.lock:
                    server.requests += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                self.counted = True
                try:
                    server.handle(self)
                finally:
                    server.release(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.timer = threading.Timer(LIFETIME_S, self.stop)  # bounded: stops itself if a test forgets to
        self.timer.daemon = True

    def start(self) -> ScriptedServer:
        self.thread.start()
        self.timer.start()
        return self

    def release(self, h) -> None:
        """A request stops counting as in flight before its reply is sent: once the client holds the reply it may
        send the next request, and that one must not overlap this one in the count."""
        with self.lock:
            if getattr(h, "counted", False):
                h.counted = False
                self.in_flight -= 1

    def stop(self) -> None:
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        with self.lock:
            self.bodies.append(body)
            self.per_prompt[prompt] = self.per_prompt.get(prompt, 0) + 1
            seen = self.per_prompt[prompt]
        match = re.search(r"MODE=(\w+)", prompt)
        mode = match.group(1) if match else "CONSISTENT"
        if mode == "sleep":
            time.sleep(SLEEP_S)
            return self.reply(h, "<verdict>CONSISTENT</verdict>")
        if mode == "slow":
            time.sleep(0.2)
            return self.reply(h, "<verdict>CONSISTENT</verdict>")
        if mode == "down" or (mode == "flaky" and seen <= 2):
            return self.send(h, 503, b'{"error": "overloaded"}')
        if mode == "flaky":
            return self.reply(h, "<verdict>INCONSISTENT</verdict>")
        if mode == "badjson":
            return self.send(h, 200, b"{not json")
        if mode == "nochoices":
            return self.send(h, 200, b'{"object": "chat.completion", "choices": []}')
        if mode == "garbage":
            return self.reply(h, "The reasoning looks consistent to me.")
        if mode == "notfound":
            return self.send(h, 404, b'{"error": "no such model"}')
        if mode == "thinker":
            if (body.get("max_tokens") or 10_000) < 64:
                return self.reply(h, "<think>The reasoning ends on B. <verdict>CONSISTENT</verdict>. But wait",
                                  finish_reason="length")
            return self.reply(h, "<think>It ends on B, but the answer is A.</think><verdict>INCONSISTENT</verdict>")
        if mode == "nofinish":
            return self.reply(h, "<verdict>CONSISTENT</verdict>", finish_reason=None)
        return self.reply(h, f"<think>Maybe <verdict>INCONSISTENT</verdict>? No.</think>\n<verdict>{mode}</verdict>")

    def reply(self, h, content: str, finish_reason: str | None = "stop") -> None:
        choice = {"index": 0, "message": {"role": "assistant", "content": content}}
        if finish_reason is not None:
            choice["finish_reason"] = finish_reason
        payload = {"object": "chat.completion", "choices": [choice]}
        self.send(h, 200, json.dumps(payload).encode())

    def send(self, h, code: int, data: bytes) -> None:
        self.release(h)
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
