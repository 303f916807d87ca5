import argparse
import json
from pathlib import Path

from lmms_robust.harness.filters import encode_response
from lmms_robust.judge.cli import add_arguments, run

TASK = "bench_base"


def sample(item_id: str, mode: str, response: str, *, answer="B", consistent=True, prefill=None, status="ok"):
    item = {"benchmark": "bench", "item_id": item_id, "question": f"Which animal barks? MODE={mode}",
            "options": ["cat", "dog"], "answer": "dog", "answer_type": "choice", "precision": None, "unit": None}
    pert = {"variant": "base", "item": item, "applicable": True, "reason": None, "target": None, "caption": None,
            "prefill": prefill, "abstain_letter": None}
    record = {"item_id": item_id, "benchmark": "bench", "variant": "base", "status": status, "answer": answer,
              "consistent": consistent, "consistency_applicable": True, "prefill": prefill, "correct": True}
    return {"doc_id": 0, "doc": {"lr_perturbation": json.dumps(pert), "lr_item_id": item_id},
            "arguments": ["prompt"], "resps": [[response]], "filtered_resps": [encode_response(response)],
            "acc": record, "consistency": record}


def write_run(folder: Path, samples: list[dict]) -> Path:
    where = folder / "model"
    where.mkdir(parents=True)
    results = {"results": {TASK: {"alias": TASK, "acc,lmms_robust": 0.5}}, "configs": {TASK: {"task": TASK}},
               "config": {"model": "robust_replay", "model_args": "path=/runs/a.jsonl"}}
    (where / "20250101_000000_results.json").write_text(json.dumps(results))
    (where / f"20250101_000000_samples_{TASK}.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    return folder


def args_for(argv):
    return add_arguments(argparse.ArgumentParser()).parse_args(argv)


def test_judge_cli_end_to_end(server, tmp_path):
    run_dir = write_run(tmp_path / "run", [
        sample("1", "CONSISTENT", "<think>It barks, so the answer is (B).</think><answer>B</answer>"),
        sample("2", "INCONSISTENT", "<think>so the answer is (A).</think><answer>B</answer>", consistent=False),
        sample("3", "garbage", "<think>so the answer is (B).</think><answer>B</answer>"),
        sample("4", "CONSISTENT", "<answer>B</answer>", consistent=None),
        sample("5", "CONSISTENT", " Thus (A) it is.</think><answer>A</answer>", answer="A",
               prefill="<think>PREFILLED: the animal meows"),
    ])
    out = tmp_path / "out" / "verdicts.jsonl"
    argv = [str(run_dir), "--base-url", server.base_url, "--model", "j1", "--model", "j2", "-o", str(out),
            "--retries", "0", "--max-concurrency", "2"]
    assert run(args_for(argv)) == 0
    assert server.requests == 8  # 4 judged items x 2 judges; item 4 has no CoT
    assert any("PREFILLED: the animal meows" in b["messages"][0]["content"] for b in server.bodies)
    assert any("Final answer: (A) cat" in b["messages"][0]["content"] for b in server.bodies)

    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 10
    j1 = {v["item_id"]: v for v in lines if v["judge"] == "j1"}
    assert {k: v["verdict"] for k, v in j1.items()} == {"1": "consistent", "2": "inconsistent", "3": "undetermined",
                                                        "4": "not_applicable", "5": "consistent"}
    assert all(v["task"] == TASK and v["variant"] == "base" and v["model"] == "robust_replay:/runs/a.jsonl"
               for v in lines)

    summary = json.loads(out.with_suffix(".summary.json").read_text())
    across = summary["across_judges"]
    assert across["strict_agreement"] == 1.0 and across["n_compared"] == 3 and across["n_excluded_undetermined"] == 1
    rule = summary["rule_vs_judge"]["j1"]
    assert rule["n_compared"] == 3 and rule["agreement"] == 1.0
    row = next(r for r in summary["consistency"] if r["judge"] == "j1")
    assert row["n_applicable"] == 5 and row["n_decided"] == 3 and abs(row["consistency"] - 2 / 3) < 1e-9

    # the report renders the agreement tables from this summary
    from lmms_robust.report.build import _judge_blocks
    from lmms_robust.report.render import to_markdown

    markdown = to_markdown(_judge_blocks(out.with_suffix(".summary.json")))
    assert "| j1, j2 | 3 | 1.000 |" in markdown  # judges, compared, strict agreement
    assert "| j1 | 3 | 1.000 |" in markdown  # rules vs j1

    # rerun: every verdict is cached; only the unreadable reply of item 3 (never cached) is asked again, per judge
    assert run(args_for(argv)) == 0
    assert server.requests == 10
    assert (out.parent / ".judge_cache" / "judge_cache.jsonl").is_file()


def test_judge_cli_bad_folder(tmp_path, capsys):
    argv = [str(tmp_path / "missing"), "--base-url", "http://127.0.0.1:9", "--model", "m", "-o",
            str(tmp_path / "o.jsonl")]
    assert run(args_for(argv)) == 2
    assert "no such folder" in capsys.readouterr().err


def test_judge_cli_rules_first_asks_only_what_the_rules_left_open(server, tmp_path):
    run_dir = write_run(tmp_path / "run", [
        sample("1", "INCONSISTENT", "<think>It barks, so the answer is (B).</think><answer>B</answer>"),
        sample("2", "CONSISTENT", "<think>so the answer is (A).</think><answer>B</answer>", consistent=False),
        sample("3", "CONSISTENT", "<think>It is hard to tell from the photo.</think><answer>B</answer>",
               consistent=None),
        sample("4", "CONSISTENT", "<answer>B</answer>", consistent=None),
    ])
    out = tmp_path / "out" / "verdicts.jsonl"
    argv = [str(run_dir), "--base-url", server.base_url, "--model", "j1", "-o", str(out), "--retries", "0",
            "--rules-first", "--no-cache"]
    assert run(args_for(argv)) == 0
    assert server.requests == 1  # only item 3: the rules decided 1 and 2, item 4 has no CoT
    lines = {v["item_id"]: v for v in (json.loads(x) for x in out.read_text().splitlines())}
    assert {k: (v["verdict"], v["source"]) for k, v in lines.items()} == {
        "1": ("consistent", "rules"), "2": ("inconsistent", "rules"), "3": ("consistent", "judge"),
        "4": ("not_applicable", None)}
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["mode"] == "rules_first"
    assert summary["decided_by"]["j1"] == {"rules": 2, "judge": 1, "not_applicable": 1}
    # the rules' own verdicts are not counted as the judge's: nothing both decided, so no agreement figure
    assert summary["rule_vs_judge"]["j1"]["n_both_decided"] == 0
    row = summary["consistency"][0]
    assert (row["n_decided"], row["n_consistent"]) == (3, 2)  # 1 and 3 consistent, 2 inconsistent
