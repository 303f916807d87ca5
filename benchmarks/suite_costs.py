"""Costs that grow with the suite, before and after, side by side in one run.

1. Samples log: one samples line and the report's decode of it, with our per-item record under every metric
   (before) or once (after: ``core.scoring.metric_values``), on real records (the sample's 8 items through the 11
   variants' ``process_results``, responses with their trailer).
2. Task index: what our shipped task YAMLs add to every lmms-eval TaskManager, also for runs that use none of
   them: lmms-eval parsing each YAML with its includes (before) vs our index from their top lines (after), next to
   lmms-eval's own index.
3. Per request: decodes of a doc's perturbation JSON and renders of its prompt across the hooks one request
   goes through (lmms-eval's context and visuals, the backend's messages and letters, the target, scoring), and
   their time, every hook decoding and rendering afresh (before) vs once per doc (after).
4. qwen2_5_vl_robust at batch 8: the letter pass's share of the batched time, when each multiple-choice item is
   preprocessed again and teacher-forced (before) vs read from the generation's logits and cache (after).

Every pair is measured alternately, --repeats times, median. Writes benchmarks/results/suite_costs_<tag>.{json,md}.

    python benchmarks/suite_costs.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from backends import requests_for, sample_docs  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def alternate(arms: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each arm, the arms run in turn ``repeats`` times."""
    times = {name: [] for name in arms}
    for _ in range(repeats):
        for name, work in arms.items():
            start = time.perf_counter()
            work()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def scored_records(docs_by_variant) -> list[dict]:
    from lmms_robust.core.trailer import attach
    from lmms_robust.harness import hooks
    from lmms_robust.models.prefill import ChatBackend

    records = []
    for docs in docs_by_variant.values():
        for doc in docs:
            letters = ChatBackend._option_letters(doc)
            distribution = {"raw": {l: 1.0 / len(letters) for l in letters}, "forced": False} if letters else None
            response = attach("<think>Looking at the figure, the answer is (B).</think><answer>B</answer>",
                              letters=distribution, finish_reason="eos", output_tokens=21,
                              model={"backend": "qwen2_5_vl_robust", "checkpoint": "/ckpt/Qwen2.5-VL-7B-Instruct"})
            records.append((doc, response, hooks.process_results(doc, [response])["acc"]))
    return records


def samples_log(records, copies: int, repeats: int) -> dict:
    from lmms_robust.core.scoring import METRICS, metric_values

    def line(doc, response, values) -> str:
        return json.dumps({"doc_id": doc["lr_doc_id"], "target": "B", "resps": [[response]],
                           "filtered_resps": [response], **values})

    before = [line(d, r, {m: rec for m in METRICS}) for d, r, rec in records] * copies
    after = [line(d, r, metric_values(rec)) for d, r, rec in records] * copies

    def read(lines):
        for text in lines:
            sample = json.loads(text)
            next(sample[m] for m in METRICS if isinstance(sample.get(m), dict) and "item_id" in sample[m])

    seconds = alternate({"before": lambda: read(before), "after": lambda: read(after)}, repeats)
    size = {"before": sum(map(len, before)) / len(before), "after": sum(map(len, after)) / len(after)}
    return {"bytes_per_line": size, "lines": len(before), "read_seconds": seconds,
            "bytes_ratio": size["before"] / size["after"], "read_ratio": seconds["before"] / seconds["after"]}


def task_index(repeats: int) -> dict:
    import logging

    import lmms_eval.tasks
    from lmms_eval.tasks import TaskManager

    from lmms_robust.harness.discovery import shipped_task_index
    from lmms_robust.resources import tasks_dir

    manager = TaskManager.__new__(TaskManager)
    manager.logger = logging.getLogger("bench")
    lmms_eval_dir = os.path.dirname(os.path.abspath(lmms_eval.tasks.__file__)) + "/"
    seconds = alternate({
        "lmms_eval_own": lambda: manager._get_task_and_group(lmms_eval_dir),
        "ours_before": lambda: manager._get_task_and_group(str(tasks_dir())),
        "ours_after": lambda: shipped_task_index.__wrapped__(),
    }, repeats)
    return {"seconds": seconds, "entries": len(shipped_task_index()),
            "added_before": seconds["ours_before"] / seconds["lmms_eval_own"],
            "added_after": seconds["ours_after"] / seconds["lmms_eval_own"],
            "ratio": seconds["ours_before"] / seconds["ours_after"]}


def per_request(docs_by_variant, repeats: int) -> dict:
    from lmms_robust.harness import docs as docs_module
    from lmms_robust.harness import hooks
    from lmms_robust.models.prefill import ChatBackend

    all_docs = [doc for docs in docs_by_variant.values() for doc in docs]
    response = "<think>x</think><answer>B</answer>"
    kwargs = {"prefill_supported": True}

    def one_request(doc):
        hooks.doc_to_text(doc, kwargs)
        hooks.doc_to_visual(doc)
        hooks.doc_to_messages(doc, kwargs)
        ChatBackend._option_letters(doc)
        hooks.doc_to_target(doc)
        hooks.process_results(doc, [response])

    cached_decode, cached_render = docs_module._decode_perturbation, hooks._rendered_user_text

    def cold():  # as before: every hook decodes and renders afresh
        docs_module._decode_perturbation, hooks._rendered_user_text = cached_decode.__wrapped__, cached_render.__wrapped__
        try:
            for doc in all_docs:
                one_request(doc)
        finally:
            docs_module._decode_perturbation, hooks._rendered_user_text = cached_decode, cached_render

    def warm():
        for doc in all_docs:
            one_request(doc)

    docs_module._decode_perturbation.cache_clear()
    hooks._rendered_user_text.cache_clear()
    warm()
    counts = {"decodes_after": docs_module._decode_perturbation.cache_info().misses / len(all_docs),
              "decode_calls": (docs_module._decode_perturbation.cache_info().misses
                               + docs_module._decode_perturbation.cache_info().hits) / len(all_docs),
              "renders_after": hooks._rendered_user_text.cache_info().misses / len(all_docs),
              "render_calls": (hooks._rendered_user_text.cache_info().misses
                               + hooks._rendered_user_text.cache_info().hits) / len(all_docs)}
    seconds = alternate({"before": cold, "after": warm}, repeats)
    return {"per_request": counts, "seconds_per_request": {k: v / len(all_docs) for k, v in seconds.items()},
            "ratio": seconds["before"] / seconds["after"]}


def batched_letters(docs_by_variant, new_tokens: int, batch: int, repeats: int) -> dict:
    from lmms_robust.models import prefill
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    import tempfile

    model = build_tiny_qwen25vl(Path(tempfile.mkdtemp()) / "tiny")
    backend = Qwen2_5_VLRobust(pretrained=str(model), device="cpu", device_map="cpu", dtype="float32",
                               batch_size=batch, preset="protocol")
    task_dict, requests = requests_for(docs_by_variant, new_tokens)
    backend.task_dict = task_dict
    kept, row_inputs = prefill.KEPT_LOGITS_BYTES, prefill._row_inputs

    def run(letters: bool, old: bool):
        backend.letter_probs = letters
        prefill.KEPT_LOGITS_BYTES, prefill._row_inputs = (0, lambda *a: None) if old else (kept, row_inputs)
        try:
            return [r.text for r in backend.generate_until(requests)]
        finally:
            prefill.KEPT_LOGITS_BYTES, prefill._row_inputs = kept, row_inputs

    from lmms_robust.core.trailer import detach

    before, after = [detach(text) for text in run(True, True)], [detach(text) for text in run(True, False)]
    same_text = all(a[0] == b[0] for a, b in zip(before, after))
    # the same distribution up to float rounding: a padded batch's logits vs one unpadded teacher-forced pass
    letter_diff = max((abs(a[1]["letters"]["raw"][k] - b[1]["letters"]["raw"][k])
                       for a, b in zip(before, after) if a[1]["letters"] for k in a[1]["letters"]["raw"]), default=0.0)
    seconds = alternate({"no_letters": lambda: run(False, False), "letters_before": lambda: run(True, True),
                         "letters_after": lambda: run(True, False)}, repeats)
    share = {arm: (seconds[f"letters_{arm}"] - seconds["no_letters"]) / seconds[f"letters_{arm}"]
             for arm in ("before", "after")}
    return {"batch": batch, "requests": len(requests), "new_tokens": new_tokens, "seconds": seconds,
            "letter_share": share, "same_text_before_and_after": same_text, "max_letter_mass_difference": letter_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--copies", type=int, default=18, help="samples lines: 88 records x copies (18: ~1,600)")
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: spin-waiting OpenMP threads on a shared machine can slow a pass tenfold)")
    parser.add_argument("--tag", default="tiny_cpu")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)

    docs = sample_docs()
    result = {
        "hardware": {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                     "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                     "load_average": os.getloadavg()},
        "samples_log": samples_log(scored_records(docs), args.copies, args.repeats),
        "task_index": task_index(args.repeats),
        "per_request": per_request(docs, args.repeats),
        "batched_letters": batched_letters(docs, args.new_tokens, args.batch, max(2, args.repeats // 2)),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"suite_costs_{args.tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    s, t, p, b = (result[k] for k in ("samples_log", "task_index", "per_request", "batched_letters"))
    lines = [
        f"# Costs that grow with the suite ({args.tag})", "", f"Hardware: `{json.dumps(result['hardware'])}`", "",
        "Each before/after pair measured in this one run, alternately, median of the repeats.", "",
        "| cost | before | after | ratio |", "|---|---|---|---|",
        f"| samples line, bytes | {s['bytes_per_line']['before']:.0f} | {s['bytes_per_line']['after']:.0f} | "
        f"{s['bytes_ratio']:.1f}x smaller |",
        f"| report: decode {s['lines']} lines, s | {s['read_seconds']['before']:.3f} | {s['read_seconds']['after']:.3f} | "
        f"{s['read_ratio']:.1f}x faster |",
        f"| index of our {t['entries']} tasks, s (lmms-eval's own: {t['seconds']['lmms_eval_own']:.3f}) | "
        f"{t['seconds']['ours_before']:.3f} (+{t['added_before']:.0%}) | {t['seconds']['ours_after']:.4f} "
        f"(+{t['added_after']:.1%}) | {t['ratio']:.0f}x faster |",
        f"| perturbation decodes per request | {p['per_request']['decode_calls']:.0f} | "
        f"{p['per_request']['decodes_after']:.0f} | |",
        f"| prompt renders per request | {p['per_request']['render_calls']:.0f} | {p['per_request']['renders_after']:.0f} | |",
        f"| hooks of one request, ms | {1000 * p['seconds_per_request']['before']:.2f} | "
        f"{1000 * p['seconds_per_request']['after']:.2f} | {p['ratio']:.1f}x faster |",
        f"| letter pass share of batch-{b['batch']} time | {b['letter_share']['before']:.0%} | "
        f"{b['letter_share']['after']:.0%} | |",
        "",
        f"Batch {b['batch']}: {b['requests']} requests, {b['new_tokens']} new tokens, tiny random-weight model; "
        f"seconds {json.dumps({k: round(v, 2) for k, v in b['seconds'].items()})}; the same texts before and after: "
        f"{b['same_text_before_and_after']}, letter masses equal to {b['max_letter_mass_difference']:.1e}. A random-weight model never writes `<answer`, so every "
        f"letter place is forced: after, it is read with a cached step over the forced tokens instead of a "
        f"teacher-forced pass over the whole prompt and image.",
    ]
    (RESULTS / f"suite_costs_{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
