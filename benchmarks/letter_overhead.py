"""What the letter distribution costs: per item, side by side in one run.

(a) generation alone; (b) generation + our letter distribution (one teacher-forced pass, reusing the generation's
vision inputs); (c) generation + per-option log-likelihood scoring (the anchors' method: one pass per option over
context + "<answer>L"). Targets (issue "Letter-level uncertainty"): (b) adds <= 10% to (a); the extra cost of (c)
is at least (N - 0.5) x the extra cost of (b) for N options.

    python benchmarks/letter_overhead.py                      # tiny random-weight Qwen2.5-VL on CPU
    python benchmarks/letter_overhead.py --model DIR --device cuda --dtype bfloat16

Each item is generated once (timed: a); the two extras then run on that same generation, alternated and
repeated (median), so (b) = a + our extra and (c) = a + the per-option extra. Writes
benchmarks/results/letter_overhead_<tag>.{json,md}. A random-weight model never stops by itself, so every
generation runs exactly --new-tokens tokens (min_new_tokens), which keeps the three arms comparable.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from lmms_robust.core.letters import answer_context, letter_forms
from lmms_robust.models.qwen2_5_vl import Qwen2_5_VLRobust
from lmms_robust.testing.sample import draw_image
from lmms_robust.testing.tiny_qwen import build_tiny_qwen25vl

RESULTS = Path(__file__).parent / "results"


def conversation(index: int, n_options: int) -> list[dict]:
    options = "\n".join(f"({chr(65 + k)}) option {k}" for k in range(n_options))
    text = f"Question {index}: which option fits the figure?\nOptions:\n{options}\nThink, then answer."
    return [{"role": "user", "content": [{"type": "image", "image": draw_image(index, size=224)},
                                         {"type": "text", "text": text}]}]


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def per_option_loglikelihood(backend, inputs, head_ids, context: str, letters) -> dict[str, float]:
    """One forward per option over head + context + "<answer>L": the log-likelihood of each option's tokens."""
    context_ids = backend.tokenizer(context, add_special_tokens=False)["input_ids"]
    scores = {}
    for letter in letters:
        full = backend.tokenizer(context + letter_forms(letter)[0], add_special_tokens=False)["input_ids"]
        shared = next((i for i, (a, b) in enumerate(zip(full, context_ids)) if a != b), len(context_ids))
        sequence = head_ids + full
        logprobs = backend.teacher_forced_logits(inputs, sequence).float().log_softmax(-1)
        start = len(head_ids) + shared
        scores[letter] = float(sum(logprobs[pos - 1, sequence[pos]] for pos in range(start, len(sequence))))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint dir (default: build the tiny random-weight Qwen2.5-VL)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--options", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=5, help="timings of each extra per item (median taken)")
    parser.add_argument("--tag", default="tiny_cpu")
    args = parser.parse_args()

    model_dir = args.model or build_tiny_qwen25vl(Path(tempfile.mkdtemp()) / "tiny")
    device_map = args.device
    backend = Qwen2_5_VLRobust(pretrained=str(model_dir), device=args.device, device_map=device_map, dtype=args.dtype)
    letters = tuple(chr(65 + k) for k in range(args.options))
    rows = []
    for new_tokens in args.new_tokens:
        gen, letters_extra, ll_extra = [], [], []
        for index in range(args.items + 1):  # the first item warms up and is not counted
            messages = conversation(index, args.options)
            text = backend.render(messages)
            sync(args.device)
            start = time.perf_counter()
            inputs = backend.prepare_inputs([text], [messages]).to(backend.device)
            with torch.inference_mode():
                out = backend.model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                             do_sample=False, eos_token_id=backend.tokenizer.eos_token_id,
                                             pad_token_id=backend.tokenizer.pad_token_id)
            answer = backend.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
            sync(args.device)
            generation = time.perf_counter() - start
            # the two extras on the same generation, alternated and repeated so machine noise hits both alike
            ours, theirs = [], []
            context, _forced = answer_context(answer)
            for _ in range(args.repeats):
                start = time.perf_counter()
                backend.letter_distribution(messages, answer, letters, prompt_inputs=inputs)
                sync(args.device)
                ours.append(time.perf_counter() - start)
                start = time.perf_counter()
                per_option_loglikelihood(backend, inputs, inputs["input_ids"][0].tolist(), context, letters)
                sync(args.device)
                theirs.append(time.perf_counter() - start)
            if index:
                gen.append(generation)
                letters_extra.append(statistics.median(ours))
                ll_extra.append(statistics.median(theirs))
        a = statistics.mean(gen)
        b_extra, c_extra = statistics.mean(letters_extra), statistics.mean(ll_extra)
        b, c = a + b_extra, a + c_extra
        rows.append({"new_tokens": new_tokens, "items": args.items, "options": args.options,
                     "a_generation_s": a, "b_with_letters_s": b, "c_with_per_option_ll_s": c,
                     "b_extra_s": b_extra, "c_extra_s": c_extra,
                     "b_overhead_pct": 100 * b_extra / a, "c_extra_over_b_extra": c_extra / b_extra,
                     "target_b_overhead_pct_max": 10.0, "target_ratio_min": args.options - 0.5})
        print(json.dumps(rows[-1]), flush=True)

    hardware = {"device": args.device, "dtype": args.dtype, "cpu": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None,
                "model": "tiny random-weight Qwen2.5-VL (lmms_robust.testing.tiny_qwen)" if not args.model else str(args.model)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"letter_overhead_{args.tag}.json").write_text(json.dumps({"hardware": hardware, "rows": rows}, indent=2))
    lines = [f"# Letter distribution overhead ({args.tag})", "", f"Hardware: `{json.dumps(hardware)}`", "",
             "| new tokens | (a) gen s/item | (b) +letters s/item | (c) +per-option LL s/item | (b) overhead | (c) extra ÷ (b) extra |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['c_extra_over_b_extra']:.2f}"
        lines.append(f"| {r['new_tokens']} | {r['a_generation_s']:.4f} | {r['b_with_letters_s']:.4f} | "
                     f"{r['c_with_per_option_ll_s']:.4f} | {r['b_overhead_pct']:.1f}% | {ratio} |")
    lines += ["", f"Targets: (b) overhead <= 10%; (c) extra / (b) extra >= N - 0.5 = {args.options - 0.5}.", "",
              "Arm (b) here is the worst case, a full teacher-forced pass: a random-weight model never writes",
              "`<answer`, so every letter position is forced. When a model writes `<answer` and a letter itself,",
              "the backend reads the generation's own logits (no pass) or takes one cached one-token step.",
              "Each item is generated once; both extras run on that generation, alternated, median of",
              f"{args.repeats} timings each. Per-option log-likelihood (c) reuses the processor outputs too, so the",
              "comparison is forward passes against forward passes."]
    (RESULTS / f"letter_overhead_{args.tag}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
