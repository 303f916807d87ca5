"""build_report over hand-written lmms-eval output folders: files, schema, CSV, HTML, identity and input errors."""

from __future__ import annotations

import base64
import csv
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest

from lmms_robust.report import SCHEMA_PATH, ReportInputError, build_report, validate_leaderboard
from lmms_robust.report.paired import ROW_METRICS

from .records import rec, series, write_run

IDS = {"a": True, "b": True, "c": False, "d": True}


def alpha_tasks():
    return {
        "bench_base": [rec("a", p_correct=0.9, letter_entropy=0.2), rec("b", p_correct=0.4, letter_entropy=1.1),
                       rec("c", correct=False, p_correct=0.2, letter_entropy=1.3),
                       rec("d", p_correct=0.7, letter_entropy=0.6)],
        "bench_wrongthink": series("wrongthink", {"a": True, "b": False, "c": False, "d": False}),
        "bench_misleadcap": series("misleadcap", IDS),
    }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("runs")
    alpha = write_run(tmp_path / "run_alpha", alpha_tasks(), model_args="path=/runs/alpha.jsonl",
                      metadata={"version": 0.1, "protocol": {"seed": 0}, "perturbation_file_sha256": "ab" * 32})
    beta = write_run(tmp_path / "run_beta", {"bench_base": series("base", IDS),
                                             "bench_wrongthink": series("wrongthink", {**IDS, "a": False})},
                     model="qwen2_5_vl_robust", model_args="pretrained=Qwen/Qwen2.5-VL-7B-Instruct,device=cuda")
    return alpha, beta


@pytest.fixture(scope="module")
def report(two_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return out, build_report(list(two_runs), out)


def csv_rows(out: Path) -> list[dict]:
    with open(out / "report.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_output_is_written_and_returned(report):
    out, written = report
    names = [p.name for p in written]
    assert names[:4] == ["report.md", "report.csv", "leaderboard.json", "report.html"]
    assert set(names[4:]) == {"bench_accuracy.png", "bench_quadrants.png", "bench_uncertainty.png"}
    for path in written:
        assert path.parent == out and path.stat().st_size > 0
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written[4:])


def test_csv_has_one_row_per_model_benchmark_variant(report):
    out, _ = report
    rows = csv_rows(out)
    assert len(rows) == 5
    assert [(r["model"], r["variant"]) for r in rows] == [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "base"), ("Qwen/Qwen2.5-VL-7B-Instruct", "wrongthink"),
        ("alpha.jsonl", "base"), ("alpha.jsonl", "wrongthink"), ("alpha.jsonl", "misleadcap")]
    assert list(rows[0]) == ["model", "model_id", "benchmark", "variant", "task", *ROW_METRICS]


def test_csv_numbers_match_hand_computed_values(report):
    out, _ = report
    rows = {(r["model"], r["variant"]): r for r in csv_rows(out)}
    wrongthink = rows[("alpha.jsonl", "wrongthink")]
    # base a b c d = T T F T, wrongthink T F F F: drop (3 - 1) / 4; flips 2 of 3 base-correct, 0 of 1 base-wrong
    assert float(wrongthink["acc"]) == 0.25
    assert float(wrongthink["drop"]) == 0.5
    assert float(wrongthink["flip_correct_to_wrong"]) == pytest.approx(2 / 3)
    assert float(wrongthink["flip_wrong_to_correct"]) == 0.0
    assert float(wrongthink["drop_ci_low"]) <= 0.5 <= float(wrongthink["drop_ci_high"])
    # AUROC over base-correct a, b, d (still correct: a): P(correct) 0.9 vs 0.4, 0.7 -> 1.0; -H -0.2 vs -1.1, -0.6
    assert float(wrongthink["auroc_p_correct"]) == 1.0 and wrongthink["n_auroc_p_correct"] == "3"
    assert float(wrongthink["auroc_neg_entropy"]) == 1.0
    # misleadcap: nobody flips; AUROC has one class only -> empty cell (null)
    misleadcap = rows[("alpha.jsonl", "misleadcap")]
    assert float(misleadcap["drop"]) == 0.0 and misleadcap["auroc_p_correct"] == ""
    base = rows[("alpha.jsonl", "base")]
    assert float(base["p_correct"]) == pytest.approx((0.9 + 0.4 + 0.2 + 0.7) / 4) and base["drop"] == ""
    qwen = rows[("Qwen/Qwen2.5-VL-7B-Instruct", "wrongthink")]
    assert float(qwen["drop"]) == 0.25 and float(qwen["flip_correct_to_wrong"]) == pytest.approx(1 / 3)
    assert qwen["auroc_p_correct"] == "" and qwen["p_correct"] == ""


def test_leaderboard_validates_and_carries_provenance(report):
    out, _ = report
    document = json.loads((out / "leaderboard.json").read_text())
    jsonschema.validate(document, json.loads(SCHEMA_PATH.read_text()))
    assert document["schema_version"] == "1"
    assert document["bootstrap"] == {"n_resamples": 10_000, "seed": 0, "ci_level": 0.95, "method": "percentile"}
    assert len(document["entries"]) == 5
    alpha = next(e for e in document["entries"] if e["model"] == "alpha.jsonl" and e["variant"] == "wrongthink")
    assert alpha["model_id"] == "robust_replay:/runs/alpha.jsonl@seed=0" and alpha["seed"] == 0
    assert alpha["model_backend"] == "robust_replay" and alpha["model_source"] == "/runs/alpha.jsonl"
    assert alpha["task"] == "bench_wrongthink" and alpha["benchmark"] == "bench" and alpha["n_items"] == 4
    assert alpha["protocol"] == {"seed": 0}
    assert alpha["perturbation_file_sha256"] == "ab" * 32
    assert alpha["lmms_eval_version"] and alpha["lmms_eval_version_recorded"] == "main@0000000"
    assert alpha["lmms_robust_version"] == document["lmms_robust_version"]
    qwen = next(e for e in document["entries"] if e["model_backend"] == "qwen2_5_vl_robust")
    assert qwen["model_id"] == "qwen2_5_vl_robust:Qwen/Qwen2.5-VL-7B-Instruct@seed=0"
    assert qwen["perturbation_file_sha256"] is None


def test_a_missing_variant_is_in_every_output(report):
    out, _ = report
    document = json.loads((out / "leaderboard.json").read_text())
    missing = [w for w in document["warnings"] if w["kind"] == "missing_variant"]
    assert [(w["model"], w["variant"]) for w in missing] == [("Qwen/Qwen2.5-VL-7B-Instruct", "misleadcap")]
    for name in ("report.md", "report.html"):
        assert "missing_variant" in (out / name).read_text()


def test_schema_rejects_a_malformed_leaderboard(report):
    out, _ = report
    document = json.loads((out / "leaderboard.json").read_text())
    del document["entries"][0]["metrics"]["drop"]
    with pytest.raises(jsonschema.ValidationError):
        validate_leaderboard(document)
    document = json.loads((out / "leaderboard.json").read_text())
    document["entries"][0]["metrics"]["acc"] = "0.5"
    with pytest.raises(jsonschema.ValidationError):
        validate_leaderboard(document)


def test_html_is_self_contained_with_every_png_embedded(report):
    out, written = report
    page = (out / "report.html").read_text()
    pngs = [p for p in written if p.suffix == ".png"]
    assert page.count('src="data:image/png;base64,') == len(pngs) == 3
    for path in pngs:
        assert base64.b64encode(path.read_bytes()).decode() in page
    assert "<table>" in page and "alpha.jsonl" in page
    assert "http://" not in page and "https://" not in page and ".png\"" not in page


def test_markdown_has_the_summary_tables_and_links_the_plots(report):
    out, _ = report
    text = (out / "report.md").read_text()
    for heading in ("## Benchmark: bench", "### Accuracy and consistency", "### Paired with base",
                    "### Consistency quadrants", "### Letter distribution", "## Coverage and warnings", "## Inputs"):
        assert heading in text
    assert "| alpha.jsonl | wrongthink | 4 | 0.750 | 0.250 | 0.500 |" in text
    assert "![bench: accuracy](bench_accuracy.png)" in text


def test_report_is_deterministic(two_runs, tmp_path):
    build_report(list(two_runs), tmp_path / "one")
    build_report(list(two_runs), tmp_path / "two")
    for name in ("report.md", "report.csv", "leaderboard.json"):
        assert (tmp_path / "one" / name).read_text() == (tmp_path / "two" / name).read_text()


def test_two_runs_with_the_same_file_name_stay_two_models(tmp_path):
    one = write_run(tmp_path / "r1", {"bench_base": series("base", IDS)}, model_args="path=/x/run/replay.jsonl")
    two = write_run(tmp_path / "r2", {"bench_base": series("base", IDS)}, model_args="path=/y/run/replay.jsonl")
    build_report([one, two], tmp_path / "out")
    models = [r["model"] for r in csv_rows(tmp_path / "out")]
    assert models == ["robust_replay:/x/run/replay.jsonl@seed=0", "robust_replay:/y/run/replay.jsonl@seed=0"]


def test_one_folder_may_hold_several_models(tmp_path):
    folder = tmp_path / "shared"
    write_run(folder, {"bench_base": series("base", IDS)}, model_args="path=/a.jsonl", sub="a")
    write_run(folder, {"bench_base": series("base", IDS)}, model_args="path=/b.jsonl", sub="b")
    build_report([folder], tmp_path / "out")
    assert [r["model"] for r in csv_rows(tmp_path / "out")] == ["a.jsonl", "b.jsonl"]


def test_a_rerun_of_a_task_uses_the_newest_and_says_so(tmp_path):
    folder = tmp_path / "run"
    write_run(folder, {"bench_base": series("base", IDS)}, stamp="20250101_000000")
    write_run(folder, {"bench_base": series("base", dict.fromkeys(IDS, False))}, stamp="20250202_000000")
    build_report([folder], tmp_path / "out")
    assert float(csv_rows(tmp_path / "out")[0]["acc"]) == 0.0
    document = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    duplicate = next(w for w in document["warnings"] if w["kind"] == "duplicate_task")
    assert "20250101_000000_results.json" in duplicate["message"] and duplicate["model"] == "alpha.jsonl"


def test_a_folder_without_results_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReportInputError, match=r"empty.*no lmms-eval results.*--log_samples"):
        build_report([tmp_path / "empty"], tmp_path / "out")
    with pytest.raises(ReportInputError, match="no such folder"):
        build_report([tmp_path / "absent"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_run_without_samples_is_a_clear_error(tmp_path):
    folder = write_run(tmp_path / "nosamples", {"bench_base": series("base", IDS)}, log_samples=False)
    with pytest.raises(ReportInputError, match=r"nosamples.*bench_base.*run lmms-eval with --log_samples"):
        build_report([folder], tmp_path / "out")


def test_a_run_of_other_tasks_is_a_clear_error(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "20250101_000000_results.json").write_text(json.dumps(
        {"results": {"mme": {"mme_score,none": 1.0}}, "configs": {"mme": {}}, "config": {"model": "x"}}))
    with pytest.raises(ReportInputError, match="no lmms-robust task"):
        build_report([folder], tmp_path / "out")


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
def test_html_renders_in_headless_chromium(report, tmp_path):
    out, _ = report
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,2000", (out / "report.html").as_uri()], capture_output=True, timeout=60,
                   check=False)
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_reports_a_folder_without_results_as_an_error_not_a_traceback(tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "lmms_robust.cli", "report", str(tmp_path / "nothing"), "-o",
                          str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.startswith("error: ") and "Traceback" not in run.stderr
