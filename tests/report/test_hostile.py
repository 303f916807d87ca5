"""The report under hostile input and partial runs (issue 15, points 2, 5, 7 and 9), on hand-written run folders.

Each test starts from the issue's reproducer: a model output holding U+2028, a kill while saving (results + 3 of 11
samples files) followed by a full rerun, a run that stopped logging at a lone surrogate (5 of 8 samples), hostile
item ids and model names in Markdown/CSV/plots, and ``-o`` pointing at a run folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lmms_robust.core.perturb import VARIANTS
from lmms_robust.outputs import MARKER, OutputError
from lmms_robust.report import ReportInputError, build_report

from .records import METRIC_KEYS, rec, series, write_run

IDS = {"a": True, "b": True, "c": False, "d": True}
TASKS = [f"bench_{variant}" for variant in VARIANTS]  # 11 tasks, as in the issue


def all_tasks(correct: bool = True) -> dict[str, list[dict]]:
    return {f"bench_{v}": series(v, dict.fromkeys(IDS, correct)) for v in VARIANTS}


def leaderboard(out: Path) -> dict:
    return json.loads((out / "leaderboard.json").read_text())


def warnings_of(out: Path, kind: str) -> list[dict]:
    return [w for w in leaderboard(out)["warnings"] if w["kind"] == kind]


def acc(out: Path, variant: str = "base") -> float:
    with open(out / "report.csv", newline="") as handle:
        return float(next(r for r in csv.DictReader(handle) if r["variant"] == variant)["acc"])


# ---------------------------------------------------------------------------------------------- U+2028 (point 5)


def test_a_model_output_with_line_separators_does_not_break_the_report(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)})
    samples = next(folder.rglob("*_samples_bench_base.jsonl"))
    records = series("base", IDS)
    lines = [json.dumps({"doc_id": i, "resps": [[f"I think\u2028so\u0085really\u2029 (A)"]],
                         **dict.fromkeys(METRIC_KEYS, r)}, ensure_ascii=False) + "\n" for i, r in enumerate(records)]
    samples.write_text("".join(lines), encoding="utf-8")
    assert "\u2028" in samples.read_text(encoding="utf-8")
    build_report([folder], tmp_path / "out")
    assert acc(tmp_path / "out") == 0.75


# --------------------------------------------------------------------------------------- partial runs (point 9)


def kill_while_saving(folder: Path, stamp: str, keep: int = 3) -> None:
    """A run with results for all 11 tasks whose samples were being written when it was killed: ``keep`` files."""
    write_run(folder, all_tasks(correct=False), stamp=stamp)
    for task in TASKS[keep:]:
        next(folder.rglob(f"{stamp}_samples_{task}.jsonl")).unlink()


def test_after_a_kill_while_saving_and_a_full_rerun_the_newest_complete_run_is_used(tmp_path):
    folder = tmp_path / "run"
    kill_while_saving(folder, "20250101_000000")
    write_run(folder, all_tasks(correct=True), stamp="20250202_000000")
    build_report([folder], tmp_path / "out")  # exited 2 before
    assert acc(tmp_path / "out") == 1.0  # the rerun (all correct), not the killed run (all wrong)
    duplicates = warnings_of(tmp_path / "out", "duplicate_task")
    assert len(duplicates) == 11 and all("20250101_000000_results.json" in w["message"] for w in duplicates)
    incomplete = warnings_of(tmp_path / "out", "incomplete_run")  # the 8 tasks the kill left without samples
    assert sorted(w["message"].split(":")[0] for w in incomplete) == sorted(f"task {t}" for t in TASKS[3:])
    assert all("20250101_000000_results.json is incomplete" in w["message"] for w in incomplete)


def test_a_killed_newest_run_falls_back_to_the_older_complete_one_and_says_so(tmp_path):
    folder = tmp_path / "run"
    write_run(folder, all_tasks(correct=True), stamp="20250101_000000")
    kill_while_saving(folder, "20250202_000000")
    build_report([folder], tmp_path / "out")
    incomplete = warnings_of(tmp_path / "out", "incomplete_run")
    assert len(incomplete) == 8  # the 8 tasks whose samples file the kill left out
    assert all("20250202_000000_results.json is incomplete (no per-item samples" in w["message"]
               and "using the newest complete run" in w["message"] and "20250101_000000" in w["message"]
               for w in incomplete)
    assert acc(tmp_path / "out") == 0.0  # base kept its samples in the killed run: that newest run is used
    assert acc(tmp_path / "out", "misleadcap") == 1.0  # lost in the killed run: the older run stands in


def test_a_run_that_stopped_logging_part_way_is_never_reported_on_fewer_items(tmp_path):
    # lmms-eval stopped writing samples at a lone surrogate: 5 of 8 lines, exit 0
    eight = {f"i{k}": True for k in range(8)}
    folder = write_run(tmp_path / "run", {"bench_base": series("base", eight)})
    samples = next(folder.rglob("*_samples_bench_base.jsonl"))
    samples.write_text("".join(samples.read_text().splitlines(keepends=True)[:5]))
    with pytest.raises(ReportInputError, match=r"task bench_base has no complete run .*holds 5 samples, the results "
                                               r"file says 8 \(n-samples\).*rerun the task"):
        build_report([folder], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_samples_file_cut_mid_line_is_incomplete(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)})
    samples = next(folder.rglob("*_samples_bench_base.jsonl"))
    samples.write_bytes(samples.read_bytes()[:-40])
    with pytest.raises(ReportInputError, match=r"line 4 is cut short: the run stopped while logging"):
        build_report([folder], tmp_path / "out")


def test_an_unreadable_results_file_is_left_out_with_a_warning(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)}, stamp="20250101_000000")
    (folder / "model" / "20250202_000000_results.json").write_text('{"results": {"bench_base": ')  # save cut short
    build_report([folder], tmp_path / "out")
    [warning] = warnings_of(tmp_path / "out", "incomplete_run")
    assert "20250202_000000_results.json cannot be read" in warning["message"]


# --------------------------------------------------------------------------------------- escaping (point 7)

HOSTILE_ID = '<img src=x onerror="alert(1)">'
HOSTILE_MODEL = "<script>alert(2)</script>$\\notacommand{x}$_[x](javascript:alert(3))"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("hostile")
    ids = {HOSTILE_ID: True, "=2+5+cmd|' /C calc'!A0": False, "b": True}
    variant_ids = {k: v for k, v in ids.items() if k != HOSTILE_ID}  # the coverage warning lists the hostile id
    folder = write_run(tmp_path / "run", {"bench_base": series("base", ids), "bench_misleadcap": series(
        "misleadcap", variant_ids, p_correct=0.5, letter_entropy=0.7)}, model_args=f"path={HOSTILE_MODEL}")
    out = tmp_path / "out"
    build_report([folder], out)
    return out


def test_markdown_rendered_as_commonmark_has_no_live_html(hostile_report):
    markdown_it = pytest.importorskip("markdown_it")
    text = (hostile_report / "report.md").read_text()
    rendered = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table").render(text)
    for live in ("<script", "<img src=x", 'href="javascript:'):
        assert live not in rendered, live
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in rendered  # shown as text, not dropped
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in rendered
    assert "[x](javascript:alert(3))" in rendered  # the link syntax survives as text


def test_csv_cells_never_start_a_formula(hostile_report):
    with open(hostile_report / "report.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    text_cells = [cell for row in rows[1:] for cell in row[:5]]
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in text_cells)
    # the model name survives, HTML-ish as it is (CSV is not HTML), and numbers stay numbers
    assert any("<script>alert(2)</script>" in cell for cell in text_cells)
    from lmms_robust.report.render import csv_cell

    assert csv_cell("=2+5+cmd|x") == "'=2+5+cmd|x" and csv_cell("-1") == "'-1" and csv_cell("a=b") == "a=b"


def test_a_mathtext_model_name_does_not_crash_the_plots(hostile_report):
    assert sorted(p.name for p in hostile_report.glob("*.png")) == ["bench_accuracy.png", "bench_quadrants.png",
                                                                  "bench_uncertainty.png"]


def test_html_still_escapes(hostile_report):
    page = (hostile_report / "report.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page


# ------------------------------------------------------------------------------------- the -o folder (point 2)


def test_report_out_may_not_be_or_hold_a_run_folder(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)})
    before = sorted(str(p) for p in folder.rglob("*"))
    for out in (folder, folder / "model", tmp_path):
        with pytest.raises(OutputError, match=r"the input RUN_DIR"):
            build_report([folder], out)
    assert sorted(str(p) for p in folder.rglob("*")) == before


def test_report_out_holding_someone_elses_files_is_refused_and_a_rerun_into_its_own_is_allowed(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.md").write_text("my notes")
    with pytest.raises(OutputError, match=r"already holds files lmms-robust did not write \(e\.g\. \['report\.md'\]\)"):
        build_report([folder], mine)
    assert (mine / "report.md").read_text() == "my notes"
    out = tmp_path / "out"
    build_report([folder], out)
    assert (out / MARKER).is_file()
    build_report([folder], out)  # its own folder: replaced


def test_cli_report_refusal_is_exit_2_with_the_fix(tmp_path, capsys):
    from lmms_robust.cli import main

    folder = write_run(tmp_path / "run", {"bench_base": series("base", IDS)})
    assert main(["report", str(folder), "-o", str(folder)]) == 2
    assert "give -o a path outside it" in capsys.readouterr().err


def test_hand_written_record_helper_still_matches(tmp_path):  # keeps records.py honest for the tests above
    assert rec("a")["correct"] is True and rec("a", correct=False)["correct"] is False


def test_an_item_id_with_a_lone_surrogate_does_not_crash_the_report(tmp_path):
    folder = write_run(tmp_path / "run", {"bench_base": series("base", {"a\ud800": True, "b": False}),
                                          "bench_misleadcap": series("misleadcap", {"b": False})})
    build_report([folder], tmp_path / "out")  # the coverage warning lists the id: written as \ud800
    assert "a\\ud800" in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
