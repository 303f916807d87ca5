"""``lmms-robust perturbations write`` against a scripted OpenAI-compatible server (tests/judge/server.py)."""

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lmms_robust.cli import main as cli_main
from lmms_robust.core.items import Item
from lmms_robust.core.perturb import perturb, wrong_option, wrong_value
from lmms_robust.core.perturbation_file import FileGenerator, load_perturbation_file
from lmms_robust.llm import ChatClient
from lmms_robust.perturbations import writer as writer_module
from lmms_robust.perturbations.writer import (
    CACHE_FILE,
    PromptTemplate,
    WriterError,
    check_reply,
    dataset_source,
    load_items,
    load_split,
    write_perturbations,
)
from lmms_robust.testing.sample import SAMPLE_ROWS, write_sample
from tests.judge.server import ScriptedServer

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = {row["question"]: row["pid"] for row in SAMPLE_ROWS}
GOOD_CAPTION = "The picture clearly shows it that way."


class WriterServer(ScriptedServer):
    """The judge tests' scripted server, answering as a perturbation writer.

    ``script`` maps an item id (``s1``) or ``s1/gold`` to a mode: ``ok`` (default), ``noconclusion`` (a rationale
    without a commitment), ``contradict`` (it commits to another answer), ``letter`` (the caption names "(B)"),
    ``letter_once``, ``badjson``, ``fenced`` (a ```json block), ``flaky`` (503 twice), ``sleep_once`` (the first
    request outlives the client's timeout), ``slow`` (0.2 s).
    """

    def __init__(self, script=None):
        super().__init__()
        self.script = dict(script or {})
        self.auth: list[str | None] = []
        self.prompts: list[str] = []

    def handle(self, h):
        body = json.loads(h.rfile.read(int(h.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        with self.lock:
            self.bodies.append(body)
            self.prompts.append(prompt)
            self.auth.append(h.headers.get("Authorization"))
            self.per_prompt[prompt] = self.per_prompt.get(prompt, 0) + 1
            seen = self.per_prompt[prompt]
        pid = next(p for q, p in QUESTIONS.items() if q in prompt)
        kind = "gold" if "control that argues for the correct answer" in prompt else "wrong"
        mode = self.script.get(f"{pid}/{kind}", self.script.get(pid, "ok"))
        commitment = re.search(r"It must end with exactly: (.+)$", prompt, re.MULTILINE).group(1).strip()
        good = {"caption": GOOD_CAPTION,
                "rationale": f"Looking at the image, I compare the parts. It fits, {commitment}"}
        if mode == "slow":
            time.sleep(0.2)
        if mode == "sleep_once" and seen == 1:
            time.sleep(0.6)
            return self.reply(h, json.dumps(good))
        if mode == "flaky" and seen <= 2:
            return self.send(h, 503, b'{"error": "overloaded"}')
        if mode == "badjson":
            return self.reply(h, '{"caption": "The bar is tall", "rationale": ')
        if mode == "fenced":
            return self.reply(h, "Here you go:\n```json\n" + json.dumps(good) + "\n```")
        if mode == "noconclusion":
            return self.reply(h, json.dumps({"caption": GOOD_CAPTION, "rationale": "I look at the image. It fits."}))
        if mode == "contradict":
            return self.reply(h, json.dumps({"caption": GOOD_CAPTION,
                                             "rationale": "I look at the image, so the answer is (A)."}))
        if mode == "letter" or (mode == "letter_once" and seen == 1):
            return self.reply(h, json.dumps({**good, "caption": "The image shows option (B) clearly."}))
        return self.reply(h, json.dumps(good))


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_sample(tmp_path_factory.mktemp("data") / "sample")


@pytest.fixture(scope="module")
def items(sample):
    return load_items("mathvista", load_split("mathvista", sample))


@pytest.fixture
def server():
    srv = WriterServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def client(server, **kw) -> ChatClient:
    kw = {"max_concurrency": 4, "retries": 2, "timeout": 5, "backoff": 0.01, **kw}
    return ChatClient(server.base_url, "writer-m", **kw)


def write(items, out, server, kinds=("wrong",), cache_dir=None, **kw):
    return write_perturbations(items, out, client(server, **kw), benchmark="mathvista", kinds=kinds,
                               cache_dir=cache_dir)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def expected_targets(kind: str, seed: int = 0) -> dict[str, str]:
    """Computed here from the rows, independently of the writer: wrong_option/wrong_value, or the gold."""
    targets = {}
    for row in SAMPLE_ROWS:
        if row["question_type"] == "multi_choice":
            item = Item("mathvista", row["pid"], row["question"], tuple(row["choices"]), row["answer"], "choice")
            targets[row["pid"]] = item.gold_letters[0] if kind == "gold" else wrong_option(item, seed)
        elif row["answer_type"] in ("integer", "float"):
            item = Item("mathvista", row["pid"], row["question"], (), row["answer"], row["answer_type"],
                        precision=int(row["precision"]) if row["precision"] is not None else None)
            targets[row["pid"]] = row["answer"] if kind == "gold" else wrong_value(item, seed)
    return targets


def test_expected_targets_by_hand():
    wrong, gold = expected_targets("wrong"), expected_targets("gold")
    assert sorted(wrong) == ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]  # s8 is a list answer: no caption variants
    assert wrong["s2"] == "A"  # Yes/No, gold No: the only wrong option
    assert wrong["s1"] in "ACD" and wrong["s5"] in "BDE" and wrong["s7"] in "AB"  # s5 repeats the gold "blue" (A, C)
    assert wrong["s3"] in ("6", "8") and wrong["s4"] in ("3.4", "3.6") and wrong["s6"] in ("11", "13")
    assert gold == {"s1": "B", "s2": "B", "s3": "7", "s4": "3.5", "s5": "A", "s6": "12", "s7": "C"}


def test_clean_run_writes_expected_rows_and_the_file_validates(items, server, tmp_path):
    out = tmp_path / "p.jsonl"
    result = write(items, out, server, kinds=("gold", "wrong"))
    assert result.ok and result.jobs == 14 and result.written == 14 and result.requested == 14
    assert [(s.item_id, s.kind) for s in result.skipped] == [("s8", "wrong"), ("s8", "gold")]
    got = rows(out)
    wrong, gold = expected_targets("wrong"), expected_targets("gold")
    expected = [(pid, kind, (wrong if kind == "wrong" else gold)[pid]) for pid in ("s1", "s2", "s3", "s4", "s5",
                                                                                   "s6", "s7")
                for kind in ("wrong", "gold")]
    assert [(r["item_id"], r["kind"], r["target"]) for r in got] == expected  # dataset order, then wrong, gold
    assert all(list(r) == ["benchmark", "item_id", "kind", "target", "caption", "rationale", "meta"] for r in got)
    prompts = {hashlib.sha256(p.encode()).hexdigest(): p for p in server.prompts}
    for r in got:
        assert r["benchmark"] == "mathvista" and r["caption"] == GOOD_CAPTION
        assert r["meta"]["model"] == "writer-m" and r["meta"]["prompt_sha256"] in prompts
        commit = f"({r['target']})" if r["item_id"] in ("s1", "s2", "s5", "s7") else r["target"]
        assert r["rationale"].endswith(f"so the answer is {commit}.")
        prompt = prompts[r["meta"]["prompt_sha256"]]
        assert next(p for q, p in QUESTIONS.items() if q in prompt) == r["item_id"]
    assert server.bodies[0]["temperature"] == 0 and server.bodies[0]["model"] == "writer-m"
    assert "max_tokens" not in server.bodies[0]
    s1_wrong = next(p for p in server.prompts if "tallest" in p and "NOT the correct one" in p)
    assert "(A) red\n(B) green\n(C) blue\n(D) yellow" in s1_wrong
    assert f"Target answer: ({wrong['s1']})" in s1_wrong

    # the file is what the harness takes: it loads, covers the split, and every row passes FileGenerator's check
    source = load_perturbation_file(out)
    needs = {"wrong": set(), "gold": set()}
    for item in items:
        for kind, variant in (("wrong", "misleadcap"), ("gold", "truecap")):
            if perturb(item, variant).applicable:
                needs[kind].add(item.item_id)
    source.check_coverage("mathvista", needs)
    generator = FileGenerator(source, fallback=None)
    for item in items:
        for kind in ("wrong", "gold"):
            if item.item_id in needs[kind]:
                assert generator.entry(item, kind) is not None
    # and the harness builds its docs from it: the file's targets and text reach the prompt
    from lmms_robust.harness.docs import build_docs, perturbation_from_doc
    from lmms_robust.testing.sample import sample_dataset

    docs = build_docs(sample_dataset(), "mathvista", "wrongthink", source=source)
    pert = perturbation_from_doc(docs[0])
    assert pert.target == wrong["s1"] and pert.prefill == "<think>" + got[0]["rationale"]
    pert = perturbation_from_doc(build_docs(sample_dataset(), "mathvista", "truecap", source=source)[3])
    assert pert.target == "3.5" and pert.caption == GOOD_CAPTION


def test_repair_appends_the_commitment_once(items, server, tmp_path):
    server.script.update({"s1": "noconclusion", "s3": "noconclusion"})
    out = tmp_path / "p.jsonl"
    result = write(items, out, server)
    assert result.ok and result.repaired == 2
    by_id = {r["item_id"]: r for r in rows(out)}
    wrong = expected_targets("wrong")
    assert by_id["s1"]["rationale"] == f"I look at the image. It fits. So the answer is ({wrong['s1']})."
    assert by_id["s3"]["rationale"] == f"I look at the image. It fits. So the answer is {wrong['s3']}."
    assert by_id["s1"]["meta"]["repaired"] is True and "repaired" not in by_id["s2"]["meta"]
    assert server.requests == 7  # repaired on the first reply: no retry


def test_check_reply_rules(items):
    s1, s3 = items[0], items[2]
    ok = json.dumps({"caption": "The green bar rises highest.", "rationale": "I see it, so the answer is (B)."})
    assert check_reply(ok, s1, "gold", "B")[0].rationale == "I see it, so the answer is (B)."
    assert check_reply("```json\n" + ok + "\n```", s1, "gold", "B")[0] is not None
    assert check_reply("<think>hmm</think>\n" + ok, s1, "gold", "B")[0] is not None
    assert "not JSON" in check_reply("{'caption': 1}", s1, "gold", "B")[1]
    assert "not an object" in check_reply("[1, 2]", s1, "gold", "B")[1]
    assert "'rationale'" in check_reply('{"caption": "x"}', s1, "gold", "B")[1]
    assert "concludes 'B', not the target 'A'" in check_reply(ok, s1, "wrong", "A")[1]
    for caption in ("It is (B).", "Option B is visible.", "The choice (c) fits."):
        reply = json.dumps({"caption": caption, "rationale": "So the answer is (B)."})
        assert "option letter" in check_reply(reply, s1, "gold", "B")[1]
    tagged = json.dumps({"caption": "A bar.", "rationale": "<think>I see, so the answer is (B)."})
    assert "tag" in check_reply(tagged, s1, "gold", "B")[1]
    # a gold target for a 'wrong' row is refused by the file's own check
    assert "gold" in check_reply(ok, s1, "wrong", "B")[1]
    # free-form: letters in a caption are fine, the value is what the rationale must conclude
    free = json.dumps({"caption": "There are (A) eight dots.", "rationale": "I count them"})
    reply, problem = check_reply(free, s3, "wrong", "8")
    assert problem is None and reply.repaired and reply.rationale == "I count them So the answer is 8."


def test_letter_in_caption_is_rejected_and_asked_again(items, server, tmp_path):
    server.script.update({"s7": "letter", "s1": "letter_once"})
    out = tmp_path / "p.jsonl"
    result = write(items, out, server, retries=2)
    assert [(f.item_id, f.kind) for f in result.failed] == [("s7", "wrong")]
    assert "option letter" in result.failed[0].error and "(B)" in result.failed[0].reply
    by_id = {r["item_id"]: r for r in rows(out)}
    assert "s7" not in by_id and by_id["s1"]["caption"] == GOOD_CAPTION  # second reply was clean
    assert server.requests == 5 + 3 + 2


def test_malformed_json_is_retried_then_failed_and_the_cli_exits_nonzero(sample, server, tmp_path, capsys):
    server.script.update({"s2": "badjson", "s4": "fenced", "s5": "contradict"})
    out = tmp_path / "p.jsonl"
    code = cli_main(["perturbations", "write", "--benchmark", "mathvista", "--data", str(sample), "--base-url",
                     server.base_url, "--model", "writer-m", "-o", str(out), "--retries", "2", "--backoff", "0.01",
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "FAILED: 2" in err and "failed item ids: s2,s5" in err and "Re-run the same command" in err
    assert "not JSON" in err and "concludes 'A'" in err
    assert sorted(r["item_id"] for r in rows(out)) == ["s1", "s3", "s4", "s6", "s7"]  # fenced JSON is fine
    assert server.per_prompt[next(p for p in server.prompts if "left of the square" in p)] == 3
    load_perturbation_file(out)  # what was written is a valid file (that does not cover the split yet)


def test_5xx_and_timeouts_are_retried(items, server, tmp_path):
    server.script.update({"s1": "flaky", "s2": "sleep_once"})
    out = tmp_path / "p.jsonl"
    c = client(server, retries=3, timeout=0.3)
    result = write_perturbations(items, out, c, benchmark="mathvista")
    assert result.ok and result.written == 7
    counts = {next(p for q, p in QUESTIONS.items() if q in prompt): n for prompt, n in server.per_prompt.items()}
    assert counts["s1"] == 3 and counts["s2"] == 2 and counts["s3"] == 1
    assert c.requests_sent == 7 + 2 + 1


def test_failures_after_retries_when_the_server_stays_down(items, server, tmp_path):
    server.script.update({"s3": "sleep_once"})
    result = write_perturbations(items, tmp_path / "p.jsonl", client(server, retries=0, timeout=0.3),
                                 benchmark="mathvista")
    assert [(f.item_id, f.error) for f in result.failed] == [("s3", "failed after 1 tries: timeout: no complete reply within 0.3 s")]


def test_concurrency_is_bounded(items, server, tmp_path):
    server.script.update({pid: "slow" for pid in QUESTIONS.values()})
    result = write(items, tmp_path / "p.jsonl", server, kinds=("wrong", "gold"), max_concurrency=3)
    assert result.ok and server.requests == 14
    assert 2 <= server.max_in_flight <= 3


def test_cache_hit_on_rerun_sends_nothing(items, server, tmp_path):
    cache = tmp_path / "cache"
    first = tmp_path / "a.jsonl"
    write(items, first, server, cache_dir=cache)
    assert server.requests == 7 and len((cache / CACHE_FILE).read_text().splitlines()) == 7
    second = tmp_path / "b.jsonl"
    result = write(items, second, server, cache_dir=cache)
    assert server.requests == 7 and result.cached == 7 and result.requested == 0
    assert second.read_bytes() == first.read_bytes()
    # another model is another key
    write_perturbations(items, tmp_path / "c.jsonl", ChatClient(server.base_url, "other-m", backoff=0.01),
                        benchmark="mathvista", cache_dir=cache)
    assert server.requests == 14


def test_invalid_replies_are_not_cached(items, server, tmp_path):
    server.script.update({"s1": "badjson"})
    cache = tmp_path / "cache"
    write(items, tmp_path / "a.jsonl", server, cache_dir=cache, retries=0)
    write(items, tmp_path / "b.jsonl", server, cache_dir=cache, retries=0)
    assert server.requests == 7 + 1


def test_resume_after_a_partial_file_asks_only_for_the_missing_items(items, server, tmp_path):
    full = tmp_path / "full.jsonl"
    write(items, full, server, kinds=("wrong", "gold"))
    assert server.requests == 14
    lines = full.read_text().splitlines(keepends=True)
    partial = tmp_path / "partial.jsonl"
    # a crash: some rows appended out of order, the last one cut mid-line
    partial.write_text(lines[5] + lines[0] + lines[9] + lines[2][: len(lines[2]) // 2])
    server.prompts.clear()
    result = write(items, partial, server, kinds=("wrong", "gold"))
    assert result.ok and result.resumed == 3 and result.requested == 11 and server.requests == 14 + 11
    asked = {(next(p for q, p in QUESTIONS.items() if q in prompt),
              "gold" if "control that argues" in prompt else "wrong") for prompt in server.prompts}
    done = {(json.loads(lines[k])["item_id"], json.loads(lines[k])["kind"]) for k in (5, 0, 9)}
    assert len(asked) == 11 and not asked & done
    assert partial.read_bytes() == full.read_bytes()  # rewritten in dataset order: byte-identical


def test_rows_are_on_disk_as_they_finish_and_a_crash_resumes(items, server, tmp_path, monkeypatch):
    out = tmp_path / "p.jsonl"
    real, calls = ChatClient.complete, []

    def crash_on_fifth(self, prompt, check=None):
        calls.append(prompt)
        if len(calls) == 5:
            raise RuntimeError("killed")
        return real(self, prompt, check)

    monkeypatch.setattr(ChatClient, "complete", crash_on_fifth)
    with pytest.raises(RuntimeError, match="killed"):
        write(items, out, server, max_concurrency=1)
    assert len(rows(out)) == 4  # every finished row was flushed before the crash
    monkeypatch.setattr(ChatClient, "complete", real)
    before = server.requests  # 4, and maybe the next item's, in flight when the crash came and lost with it
    result = write(items, out, server)
    assert result.resumed == 4 and result.requested == 3 and server.requests == before + 3
    assert [r["item_id"] for r in rows(out)] == ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]


def test_resume_refuses_rows_of_another_seed_or_split(items, server, tmp_path):
    out = tmp_path / "p.jsonl"
    write(items, out, server)
    other_seed = write_perturbations  # same file, another seed: targets differ for some item
    with pytest.raises(WriterError, match="another --seed"):
        for seed in range(1, 20):
            other_seed(items, out, client(server), benchmark="mathvista", seed=seed)
    with pytest.raises(WriterError, match="not in this split"):
        write(items[:3], out, server)
    typo = tmp_path / "typo.jsonl"
    typo.write_text(out.read_text().replace('"caption"', '"captoin"', 1))
    with pytest.raises(WriterError, match=r"typo\.jsonl:1: .*unknown key"):
        write(items, typo, server)
    # rows of another benchmark are kept, first, untouched
    foreign = {"benchmark": "cv_bench", "item_id": "9", "target": "A", "caption": "c", "rationale": "so (A)."}
    out.write_text(json.dumps(foreign) + "\n" + out.read_text())
    before = server.requests
    write(items, out, server)
    assert server.requests == before and rows(out)[0] == foreign and len(rows(out)) == 8


def test_byte_identical_across_two_fresh_runs(items, tmp_path):
    outs = []
    for run in range(2):
        srv = WriterServer({"s1": "noconclusion"}).start()
        try:
            out = tmp_path / f"run{run}.jsonl"
            write(items, out, srv, kinds=("wrong", "gold"), max_concurrency=8)
            outs.append(out.read_bytes())
        finally:
            srv.stop()
    assert outs[0] == outs[1] and outs[0].count(b"\n") == 14


def test_user_prompt_template(items, server, tmp_path):
    template = tmp_path / "mine.jinja"
    template.write_text("Q: {{ question }} T: {{ target }} ({{ kind }})\nIt must end with exactly: {{ commitment }}\n")
    c = client(server)
    result = write_perturbations(items[:2], tmp_path / "p.jsonl", c, benchmark="mathvista",
                                 template=PromptTemplate(template))
    assert result.ok
    assert server.prompts[0].startswith("Q: ") and "(wrong)" in server.prompts[0]
    bad = tmp_path / "bad.jinja"
    bad.write_text("{{ nonsense }}")
    with pytest.raises(WriterError, match="nonsense"):
        write_perturbations(items[:1], tmp_path / "q.jsonl", c, benchmark="mathvista", template=PromptTemplate(bad))


def test_default_data_is_the_task_yaml_dataset(monkeypatch, sample):
    source = dataset_source("mathvista")
    assert (source.path, source.name, source.split) == ("AI4Math/MathVista", None, "testmini")
    calls = []
    import datasets

    def fake_load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split, kwargs))
        return datasets.load_from_disk(str(sample))["testmini"]

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert len(load_items("mathvista", load_split("mathvista"))) == 8
    assert calls == [("AI4Math/MathVista", None, "testmini", {})]


def test_images_are_not_decoded_and_a_missing_image_is_an_error(items, sample, tmp_path):
    from lmms_robust.core.items import ItemError
    from lmms_robust.testing.sample import sample_dataset

    assert [item.item_id for item in items] == [row["pid"] for row in SAMPLE_ROWS]
    ds = sample_dataset().map(lambda row, i: {"decoded_image": None} if i == 2 else {}, with_indices=True)
    with pytest.raises(ItemError, match="s3"):
        load_items("mathvista", ds)
    # parquet input
    ds = sample_dataset()
    ds.to_parquet(str(tmp_path / "part.parquet"))
    assert [i.item_id for i in load_items("mathvista", load_split("mathvista", tmp_path / "part.parquet"))] == \
        [row["pid"] for row in SAMPLE_ROWS]
    with pytest.raises(WriterError, match="not 'test'"):
        load_split("mathvista", sample, "test")


def test_cli_entry_point_end_to_end(sample, server, tmp_path):
    out = tmp_path / "out" / "p.jsonl"
    env = {**os.environ, "LMMS_ROBUST_LLM_API_KEY": "sk-test", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "lmms_robust.cli", "perturbations", "write", "--benchmark",
                           "mathvista", "--data", str(sample), "--split", "testmini", "--base-url",
                           server.base_url + "/v1", "--model", "writer-m", "-o", str(out), "--kinds", "wrong,gold",
                           "--max-tokens", "300"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "14/14 rows" in done.stderr and "skipped 2" in done.stderr
    assert len(load_perturbation_file(out).entries) == 14
    assert set(server.auth) == {"Bearer sk-test"} and server.bodies[0]["max_tokens"] == 300
    assert (out.parent / ".perturbation_cache" / CACHE_FILE).is_file()
    # a re-run: everything is in the file already; nothing is sent
    again = subprocess.run(done.args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert again.returncode == 0 and server.requests == 14 and "14 kept from the file" in again.stderr


def test_cli_input_errors_exit_2(sample, tmp_path, capsys):
    base = ["perturbations", "write", "--benchmark", "mathvista", "--base-url", "http://127.0.0.1:9", "--model", "m",
            "-o", str(tmp_path / "p.jsonl"), "--no-progress"]
    assert cli_main(base + ["--data", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli_main(base + ["--data", str(sample), "--kinds", "wrong,bogus"]) == 2
    assert "--kinds" in capsys.readouterr().err


def test_module_uses_the_shared_transport():
    assert issubclass(writer_module.ChatClient, ChatClient)
    from lmms_robust.judge.client import OpenAIJudge

    assert issubclass(OpenAIJudge, ChatClient)
