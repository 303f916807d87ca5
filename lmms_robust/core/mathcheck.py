"""math-verify with a time budget: free-form equality that can neither hang a run nor guess (PROTOCOL.md §3).

sympy can spend minutes on a short answer (``(x+1)^{9999}``: 112 s), and math-verify's own timeouts use
``signal.alarm``, which works only in the main thread; lmms-eval calls ``process_results`` from worker threads. So
every comparison runs in a persistent worker process (one per interpreter, with a warm spare), and the caller
waits at most ``budget_s`` for its reply: past that the worker is killed, the spare takes over at once, and the
comparison is undecided (``None``), which scoring reports as ``unscorable``. A worker that runs out of its memory limit answers undecided
too. The wait for another thread's comparison is not charged to a budget (calls are serialised by a lock), so an
item's outcome does not depend on what other threads are scoring.

Stdlib only in this process; the worker imports math-verify.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time

__all__ = ["DEFAULT_BUDGET_S", "BUDGET_ENV", "stats", "verify"]

BUDGET_ENV = "LMMS_ROBUST_MATH_BUDGET_S"
DEFAULT_BUDGET_S = float(os.environ.get(BUDGET_ENV) or 5.0)
"""Seconds of math-verify work one comparison may take (``LMMS_ROBUST_MATH_BUDGET_S`` overrides)."""
MEMORY_LIMIT_BYTES = 2 * 1024 ** 3
"""Address-space limit of the worker: an expansion that would need more fails there, not here."""
STARTUP_TIMEOUT_S = 120.0
"""Importing sympy and math-verify in a fresh worker; not charged to any comparison's budget."""

_WORKER = r"""
import json, logging, sys
sys.path[:] = [p for p in sys.path if p not in ("", ".")]
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
except Exception:
    pass
logging.disable(logging.WARNING)  # math-verify warns on every call that its own timeouts are off
from math_verify import parse, verify
verify(parse("$1$", parsing_timeout=None), parse("$1$", parsing_timeout=None), timeout_seconds=None)  # warm
out = sys.stdout
out.write('{"ready": true}\n')
out.flush()
for line in sys.stdin:
    req = json.loads(line)
    try:
        gold = parse("$" + req["gold"] + "$", parsing_timeout=None)
        target = parse("$" + req["target"] + "$", parsing_timeout=None)
        equal = bool(gold and target and verify(gold, target, float_rounding=req["rounding"], timeout_seconds=None))
        reply = {"equal": equal}
    except MemoryError:
        reply = {"equal": None, "error": "memory"}
    except Exception:  # math-verify raising on odd input means "not equal", as in-process
        reply = {"equal": False}
    out.write(json.dumps(reply) + "\n")
    out.flush()
""".replace("LIMIT", str(MEMORY_LIMIT_BYTES))


class _Process:
    """One started worker: the process and what it wrote that is not read yet."""

    def __init__(self) -> None:
        self.popen = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.buffer = b""
        if self.read_line(time.perf_counter() + STARTUP_TIMEOUT_S) is None:
            self.kill()
            raise OSError("the math-verify worker did not start (is math-verify installed?)")

    def read_line(self, deadline: float) -> str | None:
        fd = self.popen.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.perf_counter()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        try:
            self.popen.kill()
            self.popen.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.popen.stdin, self.popen.stdout):
            try:
                stream.close()
            except OSError:
                pass


class _Worker:
    """The worker in use and a warm spare: a comparison over budget kills the one in use and the spare takes over at
    once (a new spare starts in the background), so the next item does not wait for sympy to import."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: _Process | None = None
        self._spare: _Process | None = None
        self._spare_thread: threading.Thread | None = None
        self.calls = 0
        self.undecided = 0
        self.restarts = 0
        self.worst_s = 0.0

    def ask(self, gold: str, target: str, rounding: int, budget_s: float) -> bool | None:
        with self._lock:
            self.calls += 1
            started = time.perf_counter()
            first = self._proc is None and self._spare is None and self._spare_thread is None
            try:
                if self._proc is None or not self._proc.alive():
                    self._proc = self._take(started + budget_s)
                if self._proc is None:  # after kills in a row the spare is still starting: within budget, or not
                    self.undecided += 1
                    return None
                if self._spare is None and self._spare_thread is None:
                    self._refill()
                if first:
                    started = time.perf_counter()  # the very first start (importing sympy) is charged to no one
                request = json.dumps({"gold": gold, "target": target, "rounding": rounding}) + "\n"
                self._proc.popen.stdin.write(request.encode("utf-8"))
                self._proc.popen.stdin.flush()
                line = self._proc.read_line(started + budget_s)
                self.worst_s = max(self.worst_s, time.perf_counter() - started)
            except OSError:
                line = None
            if line is None:  # over budget, or the worker died: never trust it again
                if self._proc is not None:
                    self._proc.kill()
                self._proc = None
                self.undecided += 1
                return None
            equal = json.loads(line).get("equal")
            if equal is None:
                self.undecided += 1
            return equal

    def _take(self, deadline: float) -> _Process | None:
        """The spare (waiting for it until ``deadline`` if it is still starting: that wait is the comparison's), or
        for the very first comparison a new worker; None when the spare is not ready in time."""
        if self._spare_thread is not None:
            self._spare_thread.join(timeout=max(0.0, deadline - time.perf_counter()))
            if self._spare_thread.is_alive():
                return None
            self._spare_thread = None
        spare, self._spare = self._spare, None
        self.restarts += 1
        if spare is not None and spare.alive():
            return spare
        return _Process()

    def _refill(self) -> None:
        def start() -> None:
            try:
                self._spare = _Process()
            except OSError:
                self._spare = None

        self._spare_thread = threading.Thread(target=start, name="math-verify-spare", daemon=True)
        self._spare_thread.start()

    def close(self) -> None:
        with self._lock:
            if self._spare_thread is not None:
                self._spare_thread.join()
                self._spare_thread = None
            for proc in (self._proc, self._spare):
                if proc is not None:
                    proc.kill()
            self._proc = self._spare = None


_worker = _Worker()
atexit.register(_worker.close)


def verify(gold: str, target: str, rounding: int, budget_s: float | None = None) -> bool | None:
    """math-verify's ``verify(parse(gold), parse(target), float_rounding=rounding)``: True or False, or None when it
    did not answer within ``budget_s`` seconds (default ``DEFAULT_BUDGET_S``) or ran out of memory."""
    budget = DEFAULT_BUDGET_S if budget_s is None else float(budget_s)
    if budget <= 0:
        return None
    return _worker.ask(str(gold), str(target), int(rounding), budget)


def stats() -> dict:
    """Counters of this process's worker: comparisons asked, undecided ones, workers taken into use, the slowest
    reply (seconds, the wait for another thread's comparison not counted)."""
    return {"calls": _worker.calls, "undecided": _worker.undecided, "restarts": _worker.restarts,
            "worst_s": _worker.worst_s}
