"""Our own response log, so an interrupted run continues where it stopped.

lmms-eval writes its response cache only after all generation is done, so a run killed at 90% keeps nothing.
With ``response_log=DIR`` in model_args, a backend appends every response to ``DIR/rank<k>.jsonl`` as soon as it
is generated (flushed per batch), and on start reads every ``rank*.jsonl`` there (the rank count may change
between runs): a request whose key is already logged is answered from the log, not generated again.

The key is the SHA-256 of everything that decides the response: the task, the item, the rendered prompt (chat
template, system prompt, caption and prefill included), the generation settings and the model's identity
(checkpoint, revision, dtype, chat template). Anything else changed, and the request is generated anew.
A line cut short by the kill (the last one) is skipped and reported, and cut off our own file before it grows again;
any other bad line is an error naming it (``lmms_robust.jsonl`` reads and writes the files).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lmms_robust.jsonl import JsonlError, append_lines, read_jsonl

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
        self.path = self.directory / f"rank{rank}.jsonl"
        self.responses: dict[str, str] = {}
        self.skipped: list[str] = []
        for path in sorted(self.directory.glob("rank*.jsonl")):
            self._read(path, own=path == self.path)
        self.pending: list[dict] = []
        self.hits = 0

    def _read(self, path: Path, own: bool) -> None:
        try:
            read = read_jsonl(path, torn_tail="skip", lone_surrogates="keep",
                              fix="remove that line (or the file) to generate those responses again")
        except JsonlError as exc:
            raise ResponseLogError(str(exc)) from None
        if read.torn_line is not None:
            self.skipped.append(f"{path}:{read.torn_line}: a line cut short (the run was killed while writing it); "
                                f"that response is generated again")
            if own:  # our file gets appended to: cut the torn tail off so the next line starts clean
                with open(path, "r+b") as handle:
                    handle.truncate(read.torn_offset)
        for number, row in read.rows:
            if not (isinstance(row, dict) and isinstance(row.get("key"), str) and isinstance(row.get("response"), str)):
                raise ResponseLogError(f"{path}:{number}: a response log line is {{\"key\": ..., \"response\": ...}}; "
                                       f"remove it to generate that response again")
            self.responses[row["key"]] = row["response"]

    def get(self, key: str) -> str | None:
        response = self.responses.get(key)
        if response is not None:
            self.hits += 1
        return response

    def add(self, key: str, response: str, task: str, item_id) -> None:
        self.pending.append({"key": key, "task": task, "item_id": str(item_id), "response": response})
        self.responses[key] = response

    def flush(self) -> None:
        """Write what was added since the last flush (the backend calls this after every batch)."""
        if self.pending:
            append_lines(self.path, self.pending)
            self.pending = []
