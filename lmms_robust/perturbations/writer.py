"""Write a perturbation file (``lmms_robust.core.perturbation_file``) with an LLM behind an OpenAI-compatible server.

For every item of a benchmark split and every requested kind (``wrong``: misleadcap, wrongthink and their
derivatives; ``gold``: truecap, truethink) the model is asked, with ``templates/perturbation_writer.jinja`` (or a
user's template), for ``{"caption": ..., "rationale": ...}`` arguing for the target the protocol picks
(``perturb``'s own choice: ``wrong_option``/``wrong_value`` with the seed, or the first gold letter / the gold value).
Items a caption/rationale variant does not apply to (``text``/``list`` answers, ...) are skipped and counted.

Every reply is checked before it is written, with the perturbation file's own validator (``FileGenerator``): JSON
with both strings (a Markdown code fence around it is tolerated), no option letter such as ``(B)`` in the caption,
no think/answer tags or chat control tokens, and a rationale that concludes the target as the parser reads it. A
rationale that concludes nothing and names no other answer (``other_answer_named``: no other option letter or text,
no other number) gets one deterministic repair, `` So the answer is (X).`` appended, and is checked again; one that
concludes or names another answer is refused. A refused reply counts as a failed try and is asked again within
``retries``; an item still without a valid reply is not written (nothing is ever made up): it is listed, and a re-run
asks for exactly those. A user's ``--prompt-template`` is rendered in Jinja's sandbox.

Cache and resume: valid replies are cached on disk keyed by (model, rendered prompt); each finished row is appended to
the output at once (one flushed line), a re-run with the same output keeps the rows already there, and the file is
finally rewritten in dataset order (items, then kinds ``wrong``, ``gold``), so the same inputs give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lmms_robust.core.items import Item, ItemError
from lmms_robust.core.parse import answers_match, cot_conclusion
from lmms_robust.core.perturb import (  # noqa: F401 (KIND_VARIANTS re-exported)
    KIND_VARIANTS,
    PerturbConfig,
    letter_mention,
    probe_text,
)
from lmms_robust.core.perturbation_file import (
    KINDS,
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    FileGenerator,
    PerturbationEntry,
    PerturbationFile,
    PerturbationFileError,
    markup_problem,
)
from lmms_robust.jsonl import JsonlError, dumps_line, read_jsonl, write_jsonl
from lmms_robust.llm import ChatClient, JsonlCache, cache_key

__all__ = [
    "API_KEY_ENV", "CACHE_FILE", "DEFAULT_TEMPLATE", "KIND_VARIANTS", "DatasetSource", "Failure", "Job",
    "PromptTemplate", "Reply", "Skipped", "WriteResult", "WriterError", "add_split_arguments", "check_reply",
    "dataset_source", "load_items", "load_split", "plan", "write_perturbations",
]

API_KEY_ENV = "LMMS_ROBUST_LLM_API_KEY"
DEFAULT_TEMPLATE = "perturbation_writer.jinja"
CACHE_FILE = "perturbation_writer_cache.jsonl"
"""The variant whose applicability and target stand for each kind (every variant of a kind shares both)."""
IMAGE_PLACEHOLDER = "<image not loaded>"


class WriterError(ValueError):
    """Inputs the writer cannot use as they are (data, output file, template); the message names the fix."""


# ------------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class DatasetSource:
    """Where a benchmark's data comes from by default: our shipped task YAML's dataset fields."""

    path: str
    name: str | None
    split: str
    kwargs: dict = field(default_factory=dict)


def dataset_source(benchmark: str) -> DatasetSource:
    """``dataset_path``, ``dataset_name``, ``test_split`` and ``dataset_kwargs`` of ``tasks/<benchmark>/`` base YAML."""
    import yaml

    from lmms_robust.localize import base_yaml_name
    from lmms_robust.resources import tasks_dir

    path = tasks_dir() / benchmark / base_yaml_name(benchmark)
    if not path.is_file():
        raise WriterError(f"no shipped task YAML for benchmark {benchmark!r} ({path}); pass --data")

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !function hooks: not needed here
    config = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    if not config.get("dataset_path") or not config.get("test_split"):
        raise WriterError(f"{path} names no dataset_path/test_split; pass --data and --split")
    kwargs = dict(config.get("dataset_kwargs") or {})
    return DatasetSource(path=str(config["dataset_path"]), name=config.get("dataset_name") or None,
                         split=str(config["test_split"]), kwargs=kwargs)


def add_split_arguments(parser) -> None:
    """``--benchmark``, ``--data``, ``--split``: what ``load_split`` reads (the commands that read a split share them)."""
    from lmms_robust.benchmarks import BENCHMARKS

    parser.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    parser.add_argument("--data", default=None,
                        help="a save_to_disk folder, parquet file(s) or a .jsonl of rows in the benchmark's schema "
                             "(default: the Hugging Face dataset our task YAML reads)")
    parser.add_argument("--split", default=None, help="split to read (default: the task's split)")


def load_split(benchmark: str, data: str | Path | None = None, split: str | None = None):
    """The benchmark's split as a ``datasets.Dataset``.

    ``data``: a ``save_to_disk`` folder (a DatasetDict, or one Dataset), a folder of ``*.parquet`` files, one
    parquet file, or a ``.jsonl`` file, in the benchmark's schema. None: the Hugging Face dataset our task YAML reads. ``split`` defaults to
    the task's split.
    """
    import datasets

    source = dataset_source(benchmark)
    split = split or source.split
    if data is None:
        return datasets.load_dataset(source.path, source.name, split=split, **source.kwargs)
    data = Path(data)
    if not data.exists():
        raise WriterError(f"--data {data} does not exist")
    if data.is_dir() and (data / "dataset_dict.json").is_file():
        splits = datasets.load_from_disk(str(data))
        if split not in splits:
            raise WriterError(f"{data} holds splits {list(splits)}, not {split!r}; pass --split with one of them")
        return splits[split]
    if data.is_dir() and (data / "state.json").is_file():
        return datasets.load_from_disk(str(data))
    if data.is_dir():
        files = sorted(str(p) for p in data.glob("*.parquet"))
        if not files:
            raise WriterError(f"{data}: no dataset_dict.json (save_to_disk) and no *.parquet files")
    elif data.suffix == ".parquet":
        files = [str(data)]
    elif data.suffix == ".jsonl":  # rows in the benchmark's schema, one JSON object a line (images as file names)
        return datasets.load_dataset("json", data_files={split: [str(data)]}, split=split)
    else:
        raise WriterError(f"--data {data}: give a folder written by datasets' save_to_disk, parquet file(s) or a "
                          f".jsonl file in the benchmark's schema")
    return datasets.load_dataset("parquet", data_files={split: files}, split=split)


def load_items(benchmark: str, dataset) -> list[Item]:
    """Rows -> Items through the benchmark's adapter, in dataset order, without decoding a single image.

    The image column is read as nulls only (a missing image is an error, as in the harness) and dropped before the
    rows are iterated; the adapter sees a placeholder in its place.
    """
    from lmms_robust.benchmarks import IMAGE_FIELDS, adapter

    to_item = adapter(benchmark)
    image_field = IMAGE_FIELDS[benchmark]
    if image_field not in dataset.column_names:
        raise ItemError(f"{benchmark}: the dataset has no {image_field!r} column (columns: {dataset.column_names}); "
                        f"a local copy must keep the benchmark's schema")
    missing = dataset.select_columns([image_field]).with_format("arrow")[image_field].is_null().to_pylist()
    items, seen = [], set()
    for row, no_image in zip(dataset.remove_columns([image_field]), missing):
        row[image_field] = None if no_image else IMAGE_PLACEHOLDER
        item = to_item(row)
        if item.item_id in seen:
            raise ItemError(f"{benchmark}: item id {item.item_id!r} occurs twice; ids must be unique")
        seen.add(item.item_id)
        items.append(item)
    return items


# ---------------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Job:
    index: int
    """The item's position in the split (the output's order)."""
    item: Item
    kind: str
    target: str


@dataclass(frozen=True)
class Skipped:
    item_id: str
    kind: str
    reason: str


def parse_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """``"wrong,gold"`` -> ``("wrong", "gold")`` in the canonical order; unknown kinds raise WriterError."""
    names = [k.strip() for k in (kinds.split(",") if isinstance(kinds, str) else kinds) if k.strip()]
    unknown = sorted(set(names) - set(KINDS))
    if unknown or not names:
        raise WriterError(f"--kinds {','.join(names)!r}: give one or more of {','.join(KINDS)}")
    return tuple(k for k in KINDS if k in names)


def plan(items: Sequence[Item], kinds: Sequence[str], seed: int = 0) -> tuple[list[Job], list[Skipped]]:
    """One job per (item, kind) that takes a caption/rationale, with the protocol's target; the rest skipped."""
    config = PerturbConfig(seed=seed)
    jobs, skipped = [], []
    for index, item in enumerate(items):
        for kind in parse_kinds(kinds):
            probe = probe_text(item, kind, config)
            if probe.applicable:
                jobs.append(Job(index=index, item=item, kind=kind, target=probe.target))
            else:
                skipped.append(Skipped(item_id=item.item_id, kind=kind, reason=probe.reason or "not applicable"))
    return jobs, skipped


# ----------------------------------------------------------------------------------------------------- prompts


def commitment(item: Item, target: str) -> str:
    """The sentence a rationale ends with: ``so the answer is (B).`` or ``so the answer is 41.``."""
    return f"so the answer is ({target})." if item.is_multiple_choice else f"so the answer is {target}."


def prompt_variables(item: Item, kind: str, target: str) -> dict:
    """What a writer template sees (documented in ``templates/perturbation_writer.jinja``)."""
    options = [(letter, " ".join(str(text).split())) for letter, text in zip(item.letters, item.options)]
    mc = item.is_multiple_choice
    return {
        "question": item.question.strip(), "options": options, "is_multiple_choice": mc, "kind": kind,
        "target": target, "target_letter": target if mc else None,
        "target_text": options[item.letters.index(target)][1] if mc else None,
        "target_value": None if mc else target, "answer_type": item.answer_type, "unit": item.unit,
        "commitment": commitment(item, target), "benchmark": item.benchmark, "item_id": item.item_id,
    }


class PromptTemplate:
    """The shipped ``perturbation_writer.jinja``, or a user's Jinja file (``path``), rendered with strict variables
    in Jinja's sandbox (``lmms_robust.resources.UserTemplate``: a template formats its variables, it runs no code)."""

    def __init__(self, path: str | Path | None = None):
        from lmms_robust.resources import TemplateError, UserTemplate, templates_dir

        self.name = DEFAULT_TEMPLATE if path is None else str(path)
        try:
            self._template = UserTemplate(templates_dir() / DEFAULT_TEMPLATE if path is None else path)
        except TemplateError as exc:
            raise WriterError(str(exc)) from None
        self.path = self._template.path

    def render(self, item: Item, kind: str, target: str) -> str:
        from lmms_robust.resources import TemplateError

        try:
            return self._template.render(**prompt_variables(item, kind, target))
        except TemplateError as exc:
            raise WriterError(str(exc)) from None


# ---------------------------------------------------------------------------------------------------- replies


@dataclass(frozen=True)
class Reply:
    caption: str
    rationale: str
    repaired: bool = False
    """The rationale concluded nothing and got `` So the answer is (X).`` appended."""


_THINK_CLOSE = re.compile(r"<[ \t]{0,3}/[ \t]{0,3}think[ \t]{0,3}>", re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]{0,8}(?:json|JSON)?[ \t]{0,8}\r?\n(.*?)\r?\n?[ \t]{0,8}```", re.DOTALL)
# What may name an answer in a rationale the parser reads no conclusion from: a letter in parentheses, after
# option/choice/letter/answer, or standing alone (not "A" or "I", which are words); a number in digits or words.
_LETTER_NAMED = re.compile(r"\([ \t]?([A-Za-z])[ \t]?\)|\b(?i:option|choice|letter|answer)[ \t]{1,3}\(?([A-Z])\b"
                           r"|\b([B-HJ-Z])\b")
_NUMBER_NAMED = re.compile(r"\b(?:zero|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                           r"fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|"
                           r"seventy|eighty|ninety|hundred|thousand|million|billion|dozen|twice|thrice)\b",
                           re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _json_object(reply: str) -> tuple[dict | None, str | None]:
    text = reply.strip()
    candidates = [text]
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # a reasoning model's think block before the JSON
        candidates.append(text[closes[-1].end():].strip())
    fence = _FENCE.search(candidates[-1])
    if fence:
        candidates.append(fence.group(1).strip())
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(value, dict):
            return None, f"reply is a JSON {type(value).__name__}, not an object"
        return value, None
    return None, "reply is not JSON (expected {\"caption\": ..., \"rationale\": ...})"


def check_fields(item: Item, kind: str, target: str, caption: str, rationale: str) -> str | None:
    """None when (caption, rationale) may be written for this item and target, else why not.

    The perturbation file's own checks (no think/answer tags or chat control tokens; ``FileGenerator``: target, kind,
    and the rationale's conclusion as the parser reads it), plus what the file cannot check: no option letter in the
    caption.
    """
    for name, text in (("caption", caption), ("rationale", rationale)):
        if not text.strip():
            return f"empty {name}"
        problem = markup_problem(text)
        if problem:
            return f"{name} {problem}"
    if item.is_multiple_choice:
        mention = letter_mention(caption, item.letters)
        if mention:
            return f"caption names an option letter ({mention!r}); it must state a fact about the image"
    entry = PerturbationEntry(benchmark=item.benchmark, item_id=item.item_id, kind=kind, target=target,
                              caption=caption.strip(), rationale=rationale.strip(), line=1)
    source = PerturbationFile(path="<reply>", sha256="",
                              entries={(item.benchmark, item.item_id, kind): entry})
    try:
        FileGenerator(source, fallback=None).entry(item, kind)
    except PerturbationFileError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def other_answer_named(rationale: str, item: Item, target: str) -> str | None:
    """What in ``rationale`` may name an answer other than ``target`` (quoted), else None.

    Multiple choice: another option's letter (``(C)``, ``option C``, a lone ``C``) or another option's text;
    free-form: a number other than the target, or any number word. Only a rationale naming nothing else may get the
    appended commitment: ``"... it is (C) or (D)."`` or ``"... so it is four."`` would otherwise end up arguing for
    two answers, whatever the parser reads from the last sentence.
    """
    if item.is_multiple_choice:
        for match in _LETTER_NAMED.finditer(rationale):
            letter = next(g for g in match.groups() if g).upper()
            if letter in item.letters and not answers_match(letter, target, item):
                return match.group(0)
        words = " ".join(re.findall(r"\w+", rationale.casefold()))
        target_text = " ".join(re.findall(r"\w+", item.options[item.letters.index(target)].casefold()))
        words = re.sub(rf"\b{re.escape(target_text)}\b", " ", words) if target_text else words
        for letter, text in zip(item.letters, item.options):
            key = " ".join(re.findall(r"\w+", text.casefold()))
            if key and key != target_text and re.search(rf"\b{re.escape(key)}\b", words):
                return text
        return None
    for match in _NUMBER.finditer(rationale):
        if not answers_match(match.group(0).replace(",", ""), target, item):
            return match.group(0)
    words = _NUMBER.sub(" ", rationale)
    found = _NUMBER_NAMED.search(words)
    return found.group(0) if found else None


def check_reply(reply: str, item: Item, kind: str, target: str) -> tuple[Reply | None, str | None]:
    """``(Reply, None)`` for a usable reply, else ``(None, why)``; at most one deterministic repair is made.

    The repair (the commitment appended) is made only to a rationale that concludes nothing as the parser reads it
    and names no other answer (``other_answer_named``); anything else is refused, so it is asked again.
    """
    value, problem = _json_object(reply)
    if problem:
        return None, problem
    texts = {}
    for key in ("caption", "rationale"):
        text = value.get(key)
        if not isinstance(text, str) or not text.strip():
            return None, f"reply has no non-empty string {key!r}"
        texts[key] = text.strip()
    caption, rationale, repaired = texts["caption"], texts["rationale"], False
    concluded = cot_conclusion(rationale, item)
    if concluded is None:
        named = other_answer_named(rationale, item, target)
        if named is not None:
            return None, (f"rationale concludes nothing the parser reads but names {named!r}, not only the target "
                          f"{target!r}; not repaired (an appended commitment would argue for two answers)")
        sentence = commitment(item, target)  # the one repair, as its own sentence
        rationale, repaired = f"{rationale} {sentence[0].upper()}{sentence[1:]}", True
    elif not answers_match(concluded, target, item):
        return None, f"rationale concludes {concluded!r}, not the target {target!r}"
    problem = check_fields(item, kind, target, caption, rationale)
    if problem:
        return None, problem
    return Reply(caption=caption, rationale=rationale, repaired=repaired), None


# ------------------------------------------------------------------------------------------------------ output


@dataclass(frozen=True)
class Failure:
    item_id: str
    kind: str
    error: str
    reply: str | None = None
    """The last reply refused (shortened), when there was one."""


@dataclass
class WriteResult:
    out: Path
    jobs: int = 0
    """(item, kind) pairs that take a caption/rationale."""
    written: int = 0
    """Rows for those pairs in the final file (resumed + cached + requested)."""
    resumed: int = 0
    cached: int = 0
    requested: int = 0
    """Pairs asked of the server in this run (successful or not)."""
    repaired: int = 0
    rewritten: int = 0
    """Rows already in the file that failed the checks and were asked again."""
    skipped: list[Skipped] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def _row(job: Job, reply: Reply, model: str, prompt: str) -> dict:
    meta = {"model": model, "prompt_sha256": hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()}
    if reply.repaired:
        meta["repaired"] = True
    return {"benchmark": job.item.benchmark, "item_id": job.item.item_id, "kind": job.kind, "target": job.target,
            "caption": reply.caption, "rationale": reply.rationale, "meta": meta}


def _read_existing(out: Path) -> list[dict]:
    """Rows already in ``out``; a last line cut by a crash is dropped, any other unreadable line is an error.

    ``out`` must be a perturbation file (or empty): the writer rewrites it, so anything else is refused, never
    overwritten.
    """
    if not out.exists():
        return []
    if not out.is_file():
        raise WriterError(f"-o {out} is not a file")
    try:
        read = read_jsonl(out, torn_tail="skip", fix="fix or delete the line, or write to another -o")
    except JsonlError as exc:
        raise WriterError(str(exc)) from None
    if read.torn_line is not None and not read.rows:
        raise WriterError(f"-o {out} exists and is not a perturbation file (its only line is not JSON); it is not "
                          f"overwritten: write to another -o")
    rows = []
    for number, row in read.rows:
        if not isinstance(row, dict) or not isinstance(row.get("benchmark"), str):
            raise WriterError(f"{out}:{number}: not a perturbation row; write to another -o")
        unknown = sorted(set(row) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
        if unknown or row.get("kind", "wrong") not in KINDS:
            raise WriterError(f"{out}:{number}: not a perturbation row (unknown key(s) {unknown} or kind "
                              f"{row.get('kind')!r}); fix the line or write to another -o")
        if isinstance(row.get("item_id"), int) and not isinstance(row.get("item_id"), bool):
            row["item_id"] = str(row["item_id"])
        rows.append(row)
    return rows


def write_perturbations(items: Sequence[Item], out: str | Path, client: ChatClient, *, benchmark: str,
                        kinds: str | Sequence[str] = ("wrong",), seed: int = 0, template: PromptTemplate | None = None,
                        cache_dir: str | Path | None = None, progress: bool = False) -> WriteResult:
    """Ask ``client`` for every (item, kind) missing from ``out``, append each valid row as it comes, then rewrite
    ``out`` in dataset order. Rows of other benchmarks already in ``out`` are kept first, as they were.

    Raises WriterError when ``out`` holds rows this split cannot take (items not in the split, other targets).
    """
    from tqdm.auto import tqdm

    out = Path(out)
    kinds = parse_kinds(kinds)
    others = sorted({item.benchmark for item in items} - {benchmark})
    if others:
        raise WriterError(f"items of benchmark(s) {others} given to write {benchmark!r} rows")
    template = template or PromptTemplate()
    cache = JsonlCache(Path(cache_dir) / CACHE_FILE if cache_dir is not None else None)
    jobs, skipped = plan(items, kinds, seed)
    result = WriteResult(out=out, jobs=len(jobs), skipped=skipped)
    index_of = {item.item_id: index for index, item in enumerate(items)}
    items_by_id = {item.item_id: item for item in items}
    job_of = {(job.item.item_id, job.kind): job for job in jobs}

    # ---- resume: what the file already holds
    foreign: list[dict] = []  # other benchmarks: kept first, untouched
    ours: dict[tuple[str, str], dict] = {}  # (item_id, kind) -> row, for this benchmark
    stale, other_target = [], []
    for row in _read_existing(out):
        if row["benchmark"] != benchmark:
            foreign.append(row)
            continue
        key = (row.get("item_id"), row.get("kind", "wrong"))
        job = job_of.get(key)
        if job is None:
            if key[0] in items_by_id and key[1] not in kinds and key[1] in KINDS:
                ours[key] = row  # a kind this run does not write: kept, checked by the harness when used
            else:
                stale.append(key)
            continue
        if str(row.get("target", "")).strip() != job.target:
            other_target.append((key, row.get("target"), job.target))
            continue
        fields = [row.get(k) if isinstance(row.get(k), str) else "" for k in ("caption", "rationale")]
        if check_fields(job.item, job.kind, job.target, *fields) is not None:
            result.rewritten += 1
            continue
        ours[key] = row
    if stale:
        raise WriterError(
            f"{out} holds {len(stale)} {benchmark} row(s) for items not in this split or that take no caption/"
            f"rationale (e.g. {[f'{i}/{k}' for i, k in stale[:5]]}); was it written for another split or dataset? "
            f"Write to another -o, or delete those rows")
    if other_target:
        (item_id, kind), was, now = other_target[0]
        raise WriterError(
            f"{out} holds {len(other_target)} {benchmark} row(s) with other targets than this run's (e.g. item "
            f"{item_id!r} {kind}: {was!r}, now {now!r}); was it written with another --seed? Write to another -o")
    result.resumed = sum(1 for key in ours if key in job_of)

    def ordered() -> list[dict]:
        rows = sorted(ours.items(), key=lambda kv: (index_of[kv[0][0]], KINDS.index(kv[0][1])))
        return foreign + [row for _, row in rows]

    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, ordered())  # a torn last line and refused rows go before anything is appended

    # ---- the rest: cache first, then the server
    pending = [job for job in jobs if (job.item.item_id, job.kind) not in ours]
    prompts = {job: template.render(job.item, job.kind, job.target) for job in pending}
    bar = tqdm(total=len(jobs), initial=result.resumed, desc=f"{benchmark} perturbations", unit="item",
               disable=not progress, file=sys.stderr)

    with out.open("a", encoding="utf-8") as handle:
        def keep(job: Job, reply: Reply) -> None:
            row = _row(job, reply, client.model, prompts[job])
            ours[(job.item.item_id, job.kind)] = row
            handle.write(dumps_line(row))
            handle.flush()
            result.repaired += reply.repaired

        def tick() -> None:
            bar.set_postfix(written=result.resumed + result.cached + result.requested - len(result.failed),
                            failed=len(result.failed), cached=result.cached, refresh=False)
            bar.update(1)

        to_ask = []
        for job in pending:
            hit = cache.get(cache_key(client.model, prompts[job]))
            reply = check_reply(hit["reply"], job.item, job.kind, job.target)[0] if hit else None
            if reply is None:
                to_ask.append(job)
                continue
            result.cached += 1
            keep(job, reply)
            tick()

        def ask(job: Job):
            return client.complete(prompts[job], check=lambda text: check_reply(text, job.item, job.kind, job.target))

        for job, done in client.completed(ask, to_ask):
            result.requested += 1
            if done.ok:
                cache.put({"key": cache_key(client.model, prompts[job]), "model": client.model, "reply": done.reply})
                keep(job, done.value)
            else:
                excerpt = done.reply if done.reply is None or len(done.reply) <= 300 else done.reply[:300] + "…"
                result.failed.append(Failure(item_id=job.item.item_id, kind=job.kind, error=done.error or "failed",
                                             reply=excerpt))
            tick()
    bar.close()

    write_jsonl(out, ordered())
    result.written = sum(1 for key in ours if key in job_of)
    result.failed.sort(key=lambda f: (index_of[f.item_id], KINDS.index(f.kind)))
    return result
