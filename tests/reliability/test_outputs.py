"""No command deletes or overwrites a path it did not create (issue 15, point 2; lmms_robust/outputs.py).

Reproducer: ``localize --data /X/data/mathvista --out /X/data`` ``rmtree``'d the dataset and exited 0. Every command
that writes is tried here against its inputs and against a folder or file someone else filled: each refusal is exit 2
with the fix, and the input is byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lmms_robust.cli import main
from lmms_robust.localize import localize
from lmms_robust.outputs import MARKER, OutputError, check_apart, claim_folder, replace_folder
from lmms_robust.testing.sample import write_sample


def fingerprint(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture
def dataset(tmp_path) -> Path:
    return write_sample(tmp_path / "X" / "data" / "mathvista")


# ---------------------------------------------------------------------------------------------------- localize


def test_the_reproducer_localize_into_the_datas_parent_is_refused_and_the_data_kept(dataset, capsys):
    before = fingerprint(dataset.parent)
    assert main(["localize", "--benchmark", "mathvista", "--data", str(dataset), "--out", str(dataset.parent)]) == 2
    err = capsys.readouterr().err
    assert f"--out {dataset.parent} contains the input --data {dataset}" in err
    assert "give --out a path outside it" in err
    assert fingerprint(dataset.parent) == before


@pytest.mark.parametrize("where", ["same", "inside", "parent_of_parent"])
def test_localize_out_overlapping_the_data_is_refused(dataset, where):
    out = {"same": dataset, "inside": dataset / "tasks", "parent_of_parent": dataset.parent.parent}[where]
    before = fingerprint(dataset)
    with pytest.raises(OutputError, match="the input --data"):
        localize("mathvista", dataset, out)
    assert fingerprint(dataset) == before


def test_localize_never_replaces_a_benchmark_folder_it_did_not_write(dataset, tmp_path):
    out = tmp_path / "tasks"
    (out / "mathvista").mkdir(parents=True)
    (out / "mathvista" / "my_notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"--out .*tasks already holds files lmms-robust did not write"):
        localize("mathvista", dataset, out)
    assert (out / "mathvista" / "my_notes.txt").read_text() == "mine"


def test_localize_reruns_into_its_own_folder_and_replaces_its_own_copy(dataset, tmp_path):
    out = localize("mathvista", dataset, tmp_path / "tasks")
    assert (out / MARKER).is_file() and (out / "mathvista" / MARKER).is_file()
    stale = out / "mathvista" / "stale.yaml"
    stale.write_text("left from an older copy")
    localize("mathvista", dataset, out)  # ours: replaced as a whole
    assert not stale.exists() and (out / "mathvista" / "_lmms_robust_mathvista_yaml").is_file()
    localize("cv_bench", dataset, out, split="testmini")  # another benchmark beside it (any data will do)
    assert (out / "mathvista").is_dir() and (out / "cv_bench").is_dir()


# ----------------------------------------------------------------------------------------- the other commands


def test_load_release_out_may_not_be_or_sit_in_the_release(tmp_path, capsys):
    release = tmp_path / "release"
    release.mkdir()
    (release / "controlled_images_dataset.json").write_text("[]")
    before = fingerprint(release)
    for out in (release, release / "copy"):
        assert main(["load-release", "whatsup", str(release), str(out)]) == 2
        assert "the input RELEASE_DIR" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    assert main(["load-release", "whatsup", str(release), str(images), "--image-dir", str(images)]) == 2
    assert "the input --image-dir" in capsys.readouterr().err
    assert fingerprint(release) == before


def test_demo_refuses_a_workdir_someone_else_filled(tmp_path, capsys):
    work = tmp_path / "home"
    work.mkdir()
    (work / "results").mkdir()
    (work / "results" / "thesis.tex").write_text("mine")
    assert main(["demo", "--workdir", str(work)]) == 2
    assert "--workdir" in capsys.readouterr().err
    assert fingerprint(work) == {"results/thesis.tex": hashlib.sha256(b"mine").hexdigest()}


def test_sweep_refuses_an_out_someone_else_filled_or_a_checkpoints_parent(tmp_path, capsys):
    from lmms_robust.training import sweep

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "sweep.csv").write_text("mine")
    assert sweep.main(["--checkpoints", f"{tmp_path}/ck:10", "--tasks", "t", "--out", str(taken)]) == 2
    assert "already holds files lmms-robust did not write" in capsys.readouterr().err
    assert sweep.main(["--checkpoints", f"{tmp_path}/ckpts/c-10:10", "--tasks", "t", "--out",
                       str(tmp_path / "ckpts")]) == 2
    assert "contains the input checkpoint 10" in capsys.readouterr().err
    assert (taken / "sweep.csv").read_text() == "mine"


def test_perturbations_write_refuses_an_input_as_its_output(tmp_path, capsys):
    data = write_sample(tmp_path / "sample")
    template = tmp_path / "t.jinja"
    template.write_text("{{ question }}")
    before = fingerprint(tmp_path)
    base = ["perturbations", "write", "--benchmark", "mathvista", "--base-url", "http://127.0.0.1:9", "--model", "m",
            "--no-progress"]
    for out, flag in ((data / "p.jsonl", "--data"), (template, "--prompt-template")):
        assert main([*base, "--data", str(data), "--prompt-template", str(template), "-o", str(out)]) == 2
        assert f"the input {flag}" in capsys.readouterr().err
    assert fingerprint(tmp_path) == before


@pytest.mark.parametrize("content", [b"hello", b"my notes\nmore notes\n", b'{"a": 1}\n'])
def test_perturbations_write_never_overwrites_a_file_that_is_not_a_perturbation_file(tmp_path, capsys, content):
    data = write_sample(tmp_path / "sample")
    out = tmp_path / "notes.txt"
    out.write_bytes(content)
    code = main(["perturbations", "write", "--benchmark", "mathvista", "--data", str(data), "--base-url",
                 "http://127.0.0.1:9", "--model", "m", "-o", str(out), "--no-progress"])
    assert code == 2
    assert "write to another -o" in capsys.readouterr().err
    assert out.read_bytes() == content


def test_judge_refuses_an_output_in_a_run_folder_or_over_a_foreign_file(tmp_path, capsys):
    from tests.report.records import series, write_run

    run = write_run(tmp_path / "run", {"bench_base": series("base", {"a": True})})
    before = fingerprint(run)
    base = ["judge", str(run), "--base-url", "http://127.0.0.1:9", "--model", "j"]
    assert main([*base, "-o", str(run / "verdicts.jsonl")]) == 2
    assert "-o" in (err := capsys.readouterr().err) and "is inside the input RUN_DIR" in err
    foreign = tmp_path / "data.jsonl"
    foreign.write_text(json.dumps({"question": "mine"}) + "\n")
    assert main([*base, "-o", str(foreign)]) == 2
    assert "exists and is not a verdicts file of lmms-robust judge" in capsys.readouterr().err
    summary = tmp_path / "s.json"
    summary.write_text('{"mine": 1}')
    assert main([*base, "-o", str(tmp_path / "v.jsonl"), "--summary", str(summary)]) == 2
    assert "--summary" in capsys.readouterr().err
    assert fingerprint(run) == before and summary.read_text() == '{"mine": 1}'


# ------------------------------------------------------------------------------------------- the helpers alone


def test_check_apart_relations(tmp_path):
    check_apart(tmp_path / "a", "-o", [("--data", tmp_path / "b"), ("--x", None)])
    for out, word in ((tmp_path / "b", "is"), (tmp_path / "b" / "c", "is inside"), (tmp_path, "contains")):
        with pytest.raises(OutputError, match=rf"-o {out} {word} the input --data"):
            check_apart(out, "-o", [("--data", tmp_path / "b")])


def test_claim_and_replace_only_what_carries_the_marker(tmp_path):
    folder = tmp_path / "f"
    claim_folder(folder, "-o")
    (folder / "x").write_text("ours")
    replace_folder(folder, "-o")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER]
    foreign = tmp_path / "g"
    foreign.mkdir()
    (foreign / "y").write_text("theirs")
    with pytest.raises(OutputError):
        replace_folder(foreign, "-o")
    with pytest.raises(OutputError, match="is a file"):
        claim_folder(foreign / "y", "-o")
    assert (foreign / "y").read_text() == "theirs"
