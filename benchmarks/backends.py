"""qwen2_5_vl_robust (transformers) against vllm_robust (vLLM), side by side in one run, on the same model.

Arms, each over the same requests (the sample's 8 items x the 11 variants, our real prompts and prefills):
  transformers batch 1, transformers at each --batch-sizes (the best is reported), vLLM with prefix caching,
  vLLM without. Each arm runs twice, without and with the letter distribution (letter_probs), so the letter pass's
  overhead is measured in each engine. Reported: generations/s, the ratios to transformers batch 1 and to its best
  batch, letter overhead, and prefix caching's effect (11 variants share an item's image and system prompt).

    python benchmarks/backends.py                          # tiny random-weight Qwen2.5-VL on CPU (head_dim 32)
    python benchmarks/backends.py --device cuda --shape 7b --dtype bfloat16 --new-tokens 256 --tag 7b_shape_gpu

``--shape 7b``: Qwen2.5-VL-7B's layer count, widths and heads with random weights (and the tiny tokenizer's
vocabulary), for a GPU run. Greedy decoding on the same weights gives both engines the same tokens to produce (a
random model seldom writes end-of-turn, so most generations run to --new-tokens). Needs the vLLM venv (README:
Backends). Writes benchmarks/results/backends_<tag>.{json,md}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
TASK, SPLIT = "bench", "test"


def requests_for(docs_by_variant: dict[str, list[dict]], new_tokens: int):
    """lmms-eval Instances over every (variant, doc), as lmms-eval would build them, and the task_dict to read."""
    from lmms_eval.api.instance import Instance

    from lmms_robust.harness.hooks import doc_to_messages

    task_dict, requests = {}, []
    for variant, docs in docs_by_variant.items():
        task = f"{TASK}_{variant}"
        task_dict[task] = {SPLIT: docs}
        for doc_id in range(len(docs)):
            args = ("", doc_to_messages, {"until": [], "max_new_tokens": new_tokens, "temperature": 0}, doc_id, task, SPLIT)
            requests.append(Instance("generate_until", args, idx=0,
                                     metadata={"task": task, "doc_id": doc_id, "repeats": 1}))
    return task_dict, requests


def sample_docs() -> dict[str, list[dict]]:
    """The sample split (lmms_robust.testing.sample) through every variant's process_docs."""
    from lmms_robust.core.perturb import VARIANTS
    from lmms_robust.harness.docs import build_docs
    from lmms_robust.testing.sample import sample_dataset

    dataset = sample_dataset()
    return {variant: list(build_docs(dataset, "mathvista", variant)) for variant in VARIANTS}


def timed(backend, task_dict, requests, device: str) -> tuple[float, list]:
    import torch

    backend.task_dict = task_dict
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = backend.generate_until(requests)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start, [result.text for result in out]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint dir (default: build a random-weight one of --shape)")
    parser.add_argument("--shape", default="tiny", choices=["tiny", "7b"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 22])
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.45)
    parser.add_argument("--repeats", type=int, default=3, help="passes of each arm, with and without letters in turn")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of each engine (1: spin-waiting OpenMP threads on a shared machine can "
                             "slow a pass tenfold)")
    parser.add_argument("--tag", default="tiny_cpu")
    args = parser.parse_args()

    if args.device == "cpu":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = "0" if args.threads == 1 else f"0-{args.threads - 1}"
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # both engines in this process, one at a time
    import torch

    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
    from lmms_robust.models.vllm_backend import VllmRobust
    from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

    model_dir = args.model or build_tiny_qwen25vl(Path(tempfile.mkdtemp()) / f"random-{args.shape}", text_head_dim=32,
                                                  shape=args.shape)
    docs = sample_docs()
    task_dict, requests = requests_for(docs, args.new_tokens)
    common = dict(pretrained=str(model_dir), dtype=args.dtype, preset="protocol")
    arms, outputs = [], {}

    def run_arm(name: str, make, batch: int | None = None) -> None:
        backend = make()
        timed(backend, task_dict, requests[:4], args.device)  # warm-up: first-call allocation and kernels
        seconds = {False: [], True: []}
        for _ in range(args.repeats):  # without and with letters alternately: a busy machine slows both alike
            for letters in (False, True):
                backend.letter_probs = letters
                elapsed, texts = timed(backend, task_dict, requests, args.device)
                seconds[letters].append(elapsed)
                outputs[(name, letters)] = texts
        for letters, values in seconds.items():
            best = min(values)  # the undisturbed speed: on a shared machine other work only ever adds time
            arms.append({"arm": name, "batch": batch, "letters": letters, "seconds": best, "runs": values,
                         "generations_per_s": len(requests) / best})
        del backend
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()

    device_map = args.device
    for batch in [1, *args.batch_sizes]:
        run_arm(f"transformers b{batch}", lambda batch=batch: Qwen2_5_VLRobust(
            device=args.device, device_map=device_map, batch_size=batch, **common), batch)
    for caching in (True, False):
        run_arm(f"vllm prefix_caching={caching}", lambda caching=caching: VllmRobust(
            enable_prefix_caching=caching, enforce_eager=args.device == "cpu",
            gpu_memory_utilization=args.gpu_memory_utilization, max_model_len=4096, **common))

    def rate(name: str, letters: bool) -> float:
        return next(a["generations_per_s"] for a in arms if a["arm"] == name and a["letters"] == letters)

    hf_names = [f"transformers b{b}" for b in [1, *args.batch_sizes]]
    best = max(hf_names, key=lambda name: rate(name, True))
    summary = {
        "best_transformers_batch": best,
        "vllm_vs_transformers_b1": rate("vllm prefix_caching=True", True) / rate("transformers b1", True),
        "vllm_vs_transformers_best": rate("vllm prefix_caching=True", True) / rate(best, True),
        "prefix_caching_speedup": rate("vllm prefix_caching=True", True) / rate("vllm prefix_caching=False", True),
        "letter_overhead": {name: rate(name, False) / rate(name, True) - 1.0
                            for name in [*hf_names, "vllm prefix_caching=True", "vllm prefix_caching=False"]},
        # identical weights and greedy decoding: the engines must write the same responses (trailers aside)
        "same_text_as_transformers_b1": all(
            a.split("\n<lmms_robust_meta>")[0] == b.split("\n<lmms_robust_meta>")[0]
            for a, b in zip(outputs[("vllm prefix_caching=True", True)], outputs[("transformers b1", True)])),
    }
    hardware = {"device": args.device, "dtype": args.dtype, "shape": args.shape, "cpu": platform.processor() or platform.machine(),
                "cpu_count": os.cpu_count(), "threads_per_engine": args.threads if args.device == "cpu" else None,
                "load_average_after": os.getloadavg(), "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() and args.device.startswith("cuda") else None,
                "vllm": __import__("vllm").__version__, "transformers": __import__("transformers").__version__}
    result = {"hardware": hardware, "requests": len(requests), "new_tokens": args.new_tokens, "arms": arms,
              "summary": summary}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"backends_{args.tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Backends: transformers vs vLLM ({args.tag})", "",
             f"Hardware: `{json.dumps(hardware)}`", "",
             f"{len(requests)} requests (8 sample items x 11 variants), up to {args.new_tokens} new tokens, greedy; "
             f"all arms in one process, one after another, each after a 4-request warm-up; each arm's passes without "
             f"and with letters alternate, {args.repeats} of each, the fastest kept (all in the JSON). CPU: "
             f"{args.threads} thread(s) per engine on a machine other jobs share.", "",
             "| arm | letters | seconds | generations/s |", "|---|---|---|---|"]
    lines += [f"| {a['arm']} | {'yes' if a['letters'] else 'no'} | {a['seconds']:.2f} | {a['generations_per_s']:.2f} |"
              for a in arms]
    lines += ["", f"- vLLM (prefix caching) vs transformers batch 1: {summary['vllm_vs_transformers_b1']:.2f}x",
              f"- vLLM (prefix caching) vs transformers' best batch ({best}): {summary['vllm_vs_transformers_best']:.2f}x",
              f"- prefix caching on vs off (vLLM): {summary['prefix_caching_speedup']:.2f}x",
              "- letter-pass overhead (generations/s without letters ÷ with, − 1): " + ", ".join(
                  f"{name} {value:+.1%}" for name, value in summary["letter_overhead"].items()),
              f"- vLLM wrote the same texts as transformers batch 1: {summary['same_text_as_transformers_b1']}"]
    (RESULTS / f"backends_{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
