"""Point our tasks at a local copy of a benchmark (air-gapped clusters) without touching installed files.

``localize("mathvista", "/data/mathvista_testmini", "my_tasks")`` writes a copy of the shipped task directory
whose base YAML reads the local data; ``lmms-eval --include_path my_tasks --tasks mathvista_misleadcap`` then
runs the same task names on it (paths given with --include_path win over the shipped tasks).

``out`` must be new, empty, or a folder lmms-robust wrote (``lmms_robust.outputs``); the benchmark's folder in it is
replaced only when lmms-robust wrote it, and neither may be, lie inside, or contain the data.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from lmms_robust.outputs import check_apart, claim_folder, replace_folder
from lmms_robust.resources import tasks_dir

_PARQUET = (".parquet",)
COMMON_YAML = "_lmms_robust_common_yaml"


def base_yaml_name(benchmark: str) -> str:
    return f"_lmms_robust_{benchmark}_yaml"


def local_dataset_lines(data: Path, split: str) -> list[str]:
    """The ``dataset_path``/``dataset_kwargs`` lines that make lmms-eval read ``data``."""
    data = data.resolve()
    if data.is_dir() and (data / "dataset_dict.json").exists():
        import datasets

        splits = list(datasets.load_from_disk(str(data)).keys())
        if split not in splits:
            raise ValueError(f"{data} holds splits {splits}, not {split!r}; pass --split with one of them")
        return [f"dataset_path: {data}", "dataset_kwargs:", "  load_from_disk: true"]
    if data.is_dir():
        files = sorted(str(p) for p in data.glob("*.parquet"))
        if not files:
            raise ValueError(f"{data}: no dataset_dict.json (save_to_disk) and no *.parquet files")
    elif data.suffix in _PARQUET:
        files = [str(data)]
    else:
        raise ValueError(f"{data}: give a directory written by datasets' save_to_disk, or parquet file(s) in the "
                         f"benchmark's schema (images as an Image feature)")
    listed = "\n".join(f"      - {f}" for f in files)
    return ["dataset_path: parquet", "dataset_kwargs:", "  data_files:", f"    {split}:", listed]


def localize(benchmark: str, data: str | Path, out: str | Path, split: str | None = None) -> Path:
    """Write ``out/<benchmark>/`` (our task YAMLs reading ``data``) and ``out/_lmms_robust_common_yaml``.

    Raises:
        OutputError: ``out`` holds files lmms-robust did not write, or ``out``/``out/<benchmark>`` is, lies inside
            or contains ``data`` (nothing is written then).
        ValueError, FileNotFoundError: an unknown benchmark or split, or data that is not a local copy.
    """
    source = tasks_dir() / benchmark
    if not source.is_dir():
        known = sorted(p.name for p in tasks_dir().iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise ValueError(f"unknown benchmark {benchmark!r}; known: {known}")
    base = source / base_yaml_name(benchmark)
    lines = base.read_text().splitlines()
    current_split = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("test_split:"))
    split = split or current_split
    data_path = Path(data)
    if not data_path.exists():
        raise FileNotFoundError(f"{data_path} does not exist")
    replaced, in_kwargs = [], False
    for line in lines:
        if in_kwargs and line.startswith((" ", "\t")):
            continue  # the hub dataset's own dataset_kwargs (e.g. token: True) do not apply to local data
        in_kwargs = False
        if line.startswith("dataset_path:"):
            replaced.extend(local_dataset_lines(data_path, split))
        elif line.startswith("dataset_kwargs:"):
            in_kwargs = True
        elif line.startswith("dataset_name:"):
            continue  # a hub config name; a local copy has one config
        elif line.startswith("test_split:"):
            replaced.append(f"test_split: {split}")
        else:
            replaced.append(line)
    target = Path(out) / benchmark
    for written in (Path(out), target):
        check_apart(written, "--out", [("--data", data_path)])
    claim_folder(out, "--out")
    replace_folder(target, "--out")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.py"), dirs_exist_ok=True)
    (target / base.name).write_text("\n".join(replaced) + "\n")
    # The shared base the benchmark's YAML includes ("../_lmms_robust_common_yaml") must sit beside it.
    shutil.copy2(tasks_dir() / COMMON_YAML, Path(out) / COMMON_YAML)
    return Path(out)
