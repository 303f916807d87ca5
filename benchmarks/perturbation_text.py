"""Perturbation text on the paper's benchmarks as they really are: the real annotation files, through our adapters.

Reads the real releases in ``shared/external_data/benchmarks_real/`` (and MathVista testmini), converts each to the
set's Hugging Face schema or builds it with our ``load-release`` (images replaced by tiny dummy files named as the
annotations name them), and measures what ``lmms-robust show --stats`` measures on each split: rows rejected,
malformed rows kept as not_applicable, repaired rows, the share of captions that fall back to the generic template,
the share naming an option letter, plus 20 captions and rationales picked by SHA-256 of the item id, verbatim.

    PYTHONPATH=. python benchmarks/perturbation_text.py     # writes benchmarks/results/perturbation_text.{json,md}

The data stays outside the repository (``LMMS_ROBUST_EXTERNAL_DATA`` overrides where it is looked for); without it
the script says so and exits 0. MMBench is not measured: its copies carry base64 images and none is here.

Conversions (what each real file is, and what we make of it):
  cv_bench     SpatialScore.parquet rows of source ``cvbench`` (CV-Bench's test set): ``question`` is CV-Bench's
               ``prompt``; we split off " Select from the following choices." and the ``(A) ..`` lines, and drop the
               bounding-box coordinates SpatialScore appended to the 3D prompts.
  3dsrbench    SpatialScore rows of source ``3DSRBench``: 8-character ``qid`` (and ``-flip`` twins), options into
               columns A-D.
  vstar_bench  DeepEyes' V* result files: the question and the options exactly as the official annotations render
               them (full sentences, gold first), as the hub's ``text``/``label``.
  mme_realworld_lite  the official ``MME-RealWorld-Lite.json``, through ``mme_realworld_lite.load_release``.
  spatial_mm_obj, spatial_mm_multihop  the release JSON files, through their ``load_release``.
  whatsup      AdaptVis' four-option prompts of Controlled Images A and B, written back as the release's
               ``{"image_path", "caption_options"}`` (gold first; captions "A mug on a table") for ``load_release``.
  mathvista    ``testmini.json`` as hub rows.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmms_robust.jsonl import read_jsonl, write_jsonl  # noqa: E402
from lmms_robust.show import load, split_stats  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
BENCHMARKS = ("3dsrbench", "cv_bench", "spatial_mm_obj", "spatial_mm_multihop", "whatsup", "vstar_bench",
              "mme_realworld_lite", "mathvista")
SAMPLES = 20


def external_root() -> Path | None:
    """``shared/external_data``: ``$LMMS_ROBUST_EXTERNAL_DATA``, else beside the checkout (main or a worktree)."""
    env = os.environ.get("LMMS_ROBUST_EXTERNAL_DATA")
    candidates = [Path(env)] if env else []
    candidates += [ROOT.parent / "shared" / "external_data", ROOT.parents[1] / "shared" / "external_data",
                   Path("/work/shared/external_data")]
    return next((path for path in candidates if (path / "benchmarks_real").is_dir()), None)


def _dummy_images(folder: Path, names) -> Path:
    """A 1x1 PNG under each name (PIL reads it whatever the suffix says): the loaders check images exist."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    dummy = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    for name in set(names):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dummy)
    return folder


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    write_jsonl(path, rows)
    return path


# ------------------------------------------------------------------------------------------- SpatialScore sets

_CHOICE_LINE = re.compile(r"^\(([A-Z])\) ?(.*)$")


def _prompt_parts(prompt: str) -> tuple[str, list[str]]:
    """SpatialScore prompt -> (question, options): option lines ``(A) ..``; the coordinates line is dropped."""
    stem, options = [], []
    for line in prompt.split("\n"):
        match = _CHOICE_LINE.match(line.strip())
        if match:
            options.append(match.group(2).strip())
        elif line.startswith("The coordinates of bounding boxes are:"):
            continue
        elif not options:
            stem.append(line)
    question = "\n".join(stem).strip().removesuffix("Select from the following choices.").strip()
    return question, options


def _image_path(value) -> str:
    """``img_paths`` is a list, or its repr in some rows."""
    paths = ast.literal_eval(value) if isinstance(value, str) else list(value)
    return str(paths[0])


def _spatialscore(root: Path, source: str):
    import pandas as pd

    frame = pd.read_parquet(root / "benchmarks_real" / "spatialscore" / "SpatialScore.parquet")
    return frame[frame["source"] == source].to_dict("records")


def cv_bench_rows(root: Path) -> list[dict]:
    rows = []
    for record in _spatialscore(root, "cvbench"):
        question, choices = _prompt_parts(record["question"])
        path = _image_path(record["img_paths"])
        filename = path.split("CV-Bench/", 1)[1]  # img/2D/count/ade20k_10.png
        rows.append({"idx": int(record["index_origin"]), "type": filename.split("/")[1],
                     "task": record["category_origin"], "question": question, "choices": choices,
                     "answer": record["answer"], "source": filename.split("/")[-1].split("_")[0].upper(),
                     "prompt": record["question"].split("\nThe coordinates of bounding boxes")[0],
                     "filename": filename, "image": filename})
    return rows


def threedsrbench_rows(root: Path) -> list[dict]:
    rows = []
    for index, record in enumerate(_spatialscore(root, "3DSRBench")):
        question, options = _prompt_parts(record["question"])
        columns = {letter: (options[i] if i < len(options) else None) for i, letter in enumerate("ABCD")}
        image = _image_path(record["img_paths"]).rsplit("/", 1)[-1]
        rows.append({"index": index, "qid": record["index_origin"], "question": question, **columns,
                     "answer": record["answer"], "category": record["category_origin"], "image": image})
    return rows


# ------------------------------------------------------------------------------------------------------ V*

_DEEPEYES_OPTION = re.compile(r"^([A-Z])\. (.*)$")


def vstar_rows(root: Path) -> list[dict]:
    rows = []
    for category in ("direct_attributes", "relative_position"):
        path = root / "benchmarks_real" / "vstar_deepeyes" / f"deepeyes_result_{category}.jsonl"
        for record in read_jsonl(path).values:
            user = next(m for m in record["pred_output"] if m["role"] == "user")
            prompt = next(part["text"] for part in user["content"] if part["type"] == "text")
            options = [m.group(2).strip() for m in map(_DEEPEYES_OPTION.match, prompt.split("\n")) if m]
            label = "ABCD"[options.index(record["answer"])]
            text = "\n".join([record["question"], *(f"({'ABCD'[i]}) {o}" for i, o in enumerate(options)),
                              "Answer with the option's letter from the given choices directly."])
            rows.append({"question_id": Path(record["image"]).stem, "text": text, "label": label,
                         "category": category, "image": record["image"]})
    return rows


# ------------------------------------------------------------------------------------------------- WhatsUp

_WHATSUP_QUESTION = re.compile(r"USER: Where (?:is|are) the (?P<x>.+?) in relation to the (?P<y>.+?)\?")
_WHATSUP = {  # AdaptVis file -> (release JSON, image folder, [(answer word, file-name token, caption phrase)])
    "A": ("controlled_images_dataset.json", "controlled_images",
          [("on", "on", "on"), ("under", "under", "under"), ("left", "left_of", "to the left of"),
           ("right", "right_of", "to the right of")]),
    "B": ("controlled_clevr_dataset.json", "controlled_clevr",
          [("front", "in-front_of", "in front of"), ("behind", "behind", "behind"),
           ("left", "left_of", "to the left of"), ("right", "right_of", "to the right of")]),
}


def _a(noun: str) -> str:
    if noun.endswith("s") and not noun.endswith("ss"):  # "sunglasses"
        return noun
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def whatsup_release(root: Path, work: Path) -> Path:
    release = work / "whatsup"
    for subset, (annotation, folder, relations) in _WHATSUP.items():
        path = root / "benchmarks_real" / "whatsup_adaptvis" / f"Controlled_Images_{subset}_with_answer_four_options.jsonl"
        records = []
        for row in read_jsonl(path).values:
            match = _WHATSUP_QUESTION.search(row["question"])
            x, y, answer = match.group("x"), match.group("y"), row["answer"][0].lower()
            ordered = sorted(relations, key=lambda rel: rel[0] != answer)  # gold first, as in the release
            captions = [f"{_a(x)[0].upper()}{_a(x)[1:]} {phrase} {_a(y)}" for _, _, phrase in ordered]
            name = f"{x.replace(' ', '-')}_{ordered[0][1]}_{y.replace(' ', '-')}.jpeg"
            records.append({"image_path": f"data/{folder}/{name}", "caption_options": captions})
        (release / "data").mkdir(parents=True, exist_ok=True)
        (release / "data" / annotation).write_text(json.dumps(records, indent=1), encoding="utf-8")
        _dummy_images(release / folder, [Path(r["image_path"]).name for r in records])
    return release


# ------------------------------------------------------------------------------------------------ MathVista


def mathvista_rows(root: Path) -> list[dict]:
    annotations = json.loads((root / "mathvista" / "testmini.json").read_text(encoding="utf-8"))
    return [{**{key: value for key, value in record.items() if key != "image"}, "decoded_image": record["image"]}
            for record in annotations.values()]


# ---------------------------------------------------------------------------------------------------- splits


def real_split(benchmark: str, root: Path, work: Path):
    """The benchmark's real split as a Dataset in the schema our tasks read (see the module docstring)."""
    from lmms_robust.benchmarks import BENCHMARKS as MODULES

    real = root / "benchmarks_real"
    jsonl = {"cv_bench": cv_bench_rows, "3dsrbench": threedsrbench_rows, "vstar_bench": vstar_rows,
             "mathvista": mathvista_rows}
    if benchmark in jsonl:
        return load(benchmark, str(_write_jsonl(work / f"{benchmark}.jsonl", jsonl[benchmark](root))))
    module = MODULES[benchmark]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loaders' warnings (conflicts, repeats) are counted in the stats
        if benchmark in ("spatial_mm_obj", "spatial_mm_multihop"):
            names = [r["image_name"] for f in sorted((real / "spatial_mm").glob("*.json"))
                     for r in json.loads(f.read_text(encoding="utf-8"))]
            return module.load_release(real / "spatial_mm", _dummy_images(work / "spatial_mm_images", names))
        if benchmark == "mme_realworld_lite":
            records = json.loads((real / "mme_realworld_lite" / module.RELEASE_FILE).read_text(encoding="utf-8"))
            images = _dummy_images(work / "mme_images", [r["Image"] for r in records])
            return module.load_release(real / "mme_realworld_lite", images)
        if benchmark == "whatsup":
            return module.load_release(whatsup_release(root, work))
    raise ValueError(f"no real file for {benchmark!r}")


def measure(root: Path, benchmarks=BENCHMARKS, samples: int = SAMPLES) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as work:
        for benchmark in benchmarks:
            dataset = real_split(benchmark, root, Path(work))
            out.append(split_stats(dataset, benchmark, samples=samples))
    return out


# ---------------------------------------------------------------------------------------------------- report


def markdown(results: list[dict]) -> str:
    lines = ["# Perturbation text on the real benchmark files", "",
             "Generated by `benchmarks/perturbation_text.py` from `shared/external_data` (real annotations, dummy "
             "images); each row is what `lmms-robust show --stats` prints for that split. Shares are over the items "
             "that take a caption (misleadcap, seed 0). MMBench has no real file here (its copies carry base64 "
             "images).", "",
             "| benchmark | items | rejected | malformed (not_applicable) | repaired | not_applicable | with caption "
             "| generic fallback | letter in caption |", "|---|---|---|---|---|---|---|---|---|"]
    for s in results:
        lines.append(f"| {s['benchmark']} | {s['items']:,} | {s['rejected']} | {s['malformed']} | {s['repaired']} | "
                     f"{s['not_applicable']} | {s['with_caption']:,} | {s['generic_fallback']} "
                     f"({s['generic_fallback_share']:.1%}) | {s['letter_in_caption']} "
                     f"({s['letter_in_caption_share']:.1%}) |")
    for s in results:
        lines += ["", f"## {s['benchmark']}", "", f"Question types: {s['text_sources']}."]
        if s["not_applicable_reasons"]:
            lines.append(f"Not applicable: {s['not_applicable_reasons']}.")
        if s["repairs"]:
            lines.append(f"Repairs: {s['repairs']}.")
        if s["fallback_reasons"]:
            lines.append("Generic fallback, most frequent reasons: "
                         + "; ".join(f"{n} × {why}" for why, n in s["fallback_reasons"].items()) + ".")
        lines += ["", f"{len(s.get('samples', []))} items picked by SHA-256 of the item id (caption, then the "
                  "wrongthink prefill), verbatim:", ""]
        for sample in s.get("samples", []):
            question = " ".join(sample["question"].split())
            lines += [f"- `{sample['item_id']}` {question} (gold {sample['gold']!r} → target {sample['target']} "
                      f"{sample['target_text']!r}; {sample['text']})",
                      f"  - caption: {sample['caption']}", f"  - prefill: `{sample['prefill']}`"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--out", default=str(RESULTS / "perturbation_text"), help="path stem of the .json/.md")
    parser.add_argument("--samples", type=int, default=SAMPLES)
    args = parser.parse_args(argv)
    root = external_root()
    if root is None:
        print("shared/external_data/benchmarks_real not found (set LMMS_ROBUST_EXTERNAL_DATA); nothing measured")
        return 0
    results = measure(root, [b for b in args.benchmarks.split(",") if b], args.samples)
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    for stats in results:
        print(json.dumps({k: v for k, v in stats.items() if k != "samples"}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
