"""Our own response log, so an interrupted run continues where it stopped.

lmms-eval writes its response cache only after all generation is done, so a run killed at 90% keeps nothing.
With ``response_log=DIR`` in model_args, a backend appends every response to ``DIR/rank<k>.jsonl`` as soon as it
is generated (flushed per batch), and on start reads every ``rank*.jsonl`` there (the rank count may change
between runs): a request whose key is already logged is answered from the log, not generated again.

The key is the SHA-256 of everything that decides the response: the task, the item, the rendered prompt (chat
template, system prompt, caption and prefill included), the generation settings and the model's identity
(checkpoint, revision, dtype, chat template). Anything else changed, and the request is generated anew.
A truncated last line (the kill came mid-write) is skipped and reported; any other bad line is an error naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# model facts that do not change a response (how requests were batched, our cap on the letter pass aside)
_NOT_IDENTITY = ("batch_size",)


class ResponseLogError(ValueError):
    pass


def request_key(task: str, item_id, prompt: str, gen_kwargs: dict, model_info: dict) -> str:
    identity = {k: v for k, v in model_info.items() if k not in _NOT_IDENTITY}
    payload = json.dumps([task, str(item_id), prompt, gen_kwargs, identity], sort_keys=True, ensure_ascii=True,
                         default=str)
    return hashlib.sha256(payload.encode("ascii")).hexdigest()


class ResponseLog:
    def __init__(self, directory: str | Path, rank: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.responses: dict[str, str] = {}
        self.skipped: list[str] = []
        for path in sorted(self.directory.glob("rank*.jsonl")):
            self._read(path)
        self.path = self.directory / f"rank{rank}.jsonl"
        self._handle = None
        self.hits = 0

    def _read(self, path: Path) -> None:
        data = path.read_bytes()
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                if number == len(lines) and not data.endswith(b"\n"):
                    self.skipped.append(f"{where}: truncated last line (the run was killed while writing it)")
                    continue
                raise ResponseLogError(f"{where}: not a JSON line of a response log; remove the line or the "
                                       f"file to generate those responses again") from None
            if not (isinstance(row, dict) and isinstance(row.get("key"), str) and isinstance(row.get("response"), str)):
                raise ResponseLogError(f"{where}: a response log line is {{\"key\": ..., \"response\": ...}}")
            self.responses[row["key"]] = row["response"]

    def get(self, key: str) -> str | None:
        response = self.responses.get(key)
        if response is not None:
            self.hits += 1
        return response

    def add(self, key: str, response: str, task: str, item_id) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="ascii")
        # ensure_ascii: no U+2028 or lone surrogate can break the line structure
        self._handle.write(json.dumps({"key": key, "task": task, "item_id": str(item_id), "response": response},
                                      ensure_ascii=True) + "\n")
        self.responses[key] = response

    def flush(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self.flush()
            self._handle.close()
            self._handle = None
