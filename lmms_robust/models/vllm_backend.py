"""``--model vllm_robust``: the offline vLLM engine, with exact prefill continuation and the letter distribution.

lmms-eval's own ``vllm`` backend cannot run our protocol (it never continues a prefilled turn, returns no
logprobs and ignores ``until``). This one renders every prompt with our chat-template path
(``ChatBackend.render``: a prefill is left open), hands vLLM the token ids plus ``multi_modal_data``, and submits
all of a run's requests at once, so vLLM batches them continuously. The letter distribution is defined exactly as
in ``qwen2_5_vl_robust`` (``continuation_paths`` + ``letter_masses``): each context the letter paths need is one
one-token request whose ``logprob_token_ids`` are the paths' tokens, all of them again submitted together; with
prefix caching (on by default) those requests, and the 11 variants of an item, reuse the shared prompt's KV blocks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts

from lmms_robust.core.letters import answer_context
from lmms_robust.core.trailer import attach
from lmms_robust.models.letter_probs import branches, continuation_paths, letter_masses
from lmms_robust.models.prefill import ChatBackend, Prompt, _prefill_text

# vLLM's cap on logprob_token_ids per request (vllm.sampling_params.MAX_LOGPROB_TOKEN_IDS in 0.32)
MAX_SCORED_TOKENS = 128


def _flag(value) -> bool:
    return str(value).lower() not in ("false", "0", "no", "none", "")


@dataclass
class _Pending:
    """One request's generation, waiting for its letter pass."""

    index: int
    request: Instance
    prompt: Prompt
    until: list[str]
    answer: str
    finish_reason: str
    n_tokens: int
    letters: tuple[str, ...] | None
    images: list | None


class VllmRobust(ChatBackend):
    """model_args: ``pretrained``; ``tensor_parallel_size`` (1), ``dtype`` (bfloat16), ``max_model_len`` (the
    checkpoint's), ``gpu_memory_utilization`` (0.9), ``min_pixels``/``max_pixels`` (as qwen2_5_vl_robust),
    ``enable_prefix_caching`` (true), ``enforce_eager`` (false), ``seed`` (0); and those every backend of ours
    takes: ``preset``, ``system_prompt``, ``max_new_tokens``, ``letter_probs``, ``response_log``. Data parallel: each lmms-eval rank
    runs its own engine on its own GPUs (rank r takes GPUs r·tp … r·tp+tp−1)."""

    accepted_model_types = ("qwen2_5_vl",)
    backend_name = "vllm_robust"

    def setup(self) -> None:
        self._device = torch.device("cpu")  # where lmms-eval gathers per-rank tensors; the engine owns its devices

    @property
    def device(self):
        return self._device

    def load(self, pretrained: str, tensor_parallel_size: int = 1, dtype: str = "bfloat16",
             max_model_len: int | None = None, gpu_memory_utilization: float = 0.9, min_pixels: int = 256 * 28 * 28,
             max_pixels: int = 1605632, enable_prefix_caching: bool = True, enforce_eager: bool = False,
             seed: int = 0, revision: str | None = None, **unused) -> None:
        if unused:
            raise TypeError(f"vllm_robust: unknown model_args {sorted(unused)} (the instruction comes from "
                            f"lmms_robust's templates and presets, so reasoning_prompt is not taken)")
        from transformers import AutoConfig, AutoProcessor, GenerationConfig
        from vllm import LLM

        tensor_parallel_size = int(tensor_parallel_size)
        self._pin_rank_gpus(tensor_parallel_size)
        self.revision = revision  # a hub branch, tag or commit; recorded in every record and the results
        self.processor = AutoProcessor.from_pretrained(pretrained, min_pixels=int(min_pixels), max_pixels=int(max_pixels),
                                                       revision=revision)
        self._tokenizer = self.processor.tokenizer
        self.checkpoint_config = AutoConfig.from_pretrained(pretrained, revision=revision)
        try:
            self.generation_config = GenerationConfig.from_pretrained(pretrained, revision=revision)
        except OSError:  # no generation_config.json: the tokenizer's eos and <|im_end|> end a turn
            self.generation_config = None
        self.dtype_name = dtype
        self.engine = LLM(model=str(pretrained), tokenizer=str(pretrained), revision=revision, dtype=dtype,
                          tensor_parallel_size=tensor_parallel_size,
                          max_model_len=int(max_model_len) if max_model_len else None,
                          gpu_memory_utilization=float(gpu_memory_utilization),
                          enable_prefix_caching=_flag(enable_prefix_caching), enforce_eager=_flag(enforce_eager),
                          seed=int(seed), mm_processor_kwargs={"min_pixels": int(min_pixels), "max_pixels": int(max_pixels)})

    def _pin_rank_gpus(self, tensor_parallel_size: int) -> None:
        """Data parallel: the engine of rank r sees only its own GPUs. Set before vLLM starts its engine process
        (its default), which reads it; an in-process engine (VLLM_ENABLE_V1_MULTIPROCESSING=0) would not."""
        if self.world_size == 1 or not torch.cuda.is_available():
            return
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        gpus = visible.split(",") if visible else [str(i) for i in range(torch.cuda.device_count())]
        local = self.accelerator.local_process_index
        mine = gpus[local * tensor_parallel_size:(local + 1) * tensor_parallel_size]
        if len(mine) < tensor_parallel_size:
            raise RuntimeError(f"vllm_robust: rank {local} needs {tensor_parallel_size} GPU(s) of its own; "
                               f"{len(gpus)} visible for {self.accelerator.num_processes} local ranks")
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(mine)

    def _model_info(self, pretrained: str) -> dict:
        from vllm import __version__ as vllm_version

        return {**super()._model_info(pretrained), "vllm": vllm_version}

    # --- prompts ------------------------------------------------------------------------------------------
    def _prompt(self, ids: list[int], images: list | None) -> dict:
        prompt = {"prompt_token_ids": ids}
        if images:
            prompt["multi_modal_data"] = {"image": images}
        return prompt

    def _ids(self, text: str) -> list[int]:
        return self._tokenizer(text)["input_ids"]

    @staticmethod
    def _images(messages: list[dict]) -> list | None:
        from qwen_vl_utils import process_vision_info

        images, _videos = process_vision_info(messages)
        return images

    def _sampling(self, settings: dict):
        """As the transformers engine generates: stopped only by the end-of-turn ids (and stop strings a task
        asks for); the text is decoded by ``_finish`` from the token ids, as there."""
        from vllm import SamplingParams

        greedy = settings["temperature"] <= 0
        return SamplingParams(max_tokens=settings["max_new_tokens"], temperature=0.0 if greedy else settings["temperature"],
                              top_p=1.0 if greedy or settings["top_p"] is None else float(settings["top_p"]),
                              stop=settings["until"] or None, stop_token_ids=self.stop_token_ids,
                              detokenize=bool(settings["until"]))

    # --- the run ------------------------------------------------------------------------------------------
    def generate_until(self, requests: list[Instance]) -> list[GenerationResult]:
        prepared, results, order = self.resume(requests)
        prompts, params, pending = [], [], []
        for index in order:
            request, prompt = requests[index], prepared[index]
            settings = self.generation_settings(request.args[2])
            images = self._images(prompt.messages)
            prompts.append(self._prompt(self._ids(prompt.text), images))
            params.append(self._sampling(settings))
            letters = self._option_letters(prompt.doc) if self.letter_probs else None
            pending.append(_Pending(index, request, prompt, settings["until"], "", "", 0, letters, images))
        outputs = self.engine.generate(prompts, params, use_tqdm=self.rank == 0) if prompts else []
        for item, output in zip(pending, outputs):
            item.answer, item.finish_reason, item.n_tokens = self._finish(list(output.outputs[0].token_ids), item.until)
        distributions = self.letter_distributions([item for item in pending if item.letters])
        for item in pending:
            answer = attach(item.answer, letters=distributions.get(item.index), finish_reason=item.finish_reason,
                            output_tokens=item.n_tokens, model=self.model_info)
            results[item.index] = self.respond(item.request, item.prompt, answer, item.n_tokens)
        if self.response_log:
            self.response_log.flush()
        return results

    def letter_distributions(self, items: list[_Pending]) -> dict[int, dict]:
        """``{request index: {"raw": {letter: p}, "forced": bool}}``, from one batch of one-token requests."""
        from vllm import SamplingParams

        plans, contexts, index_of = [], [], {}
        for item in items:
            messages = item.prompt.messages
            context, forced = answer_context(_prefill_text(messages) + item.answer)
            head = messages[:-1] if messages[-1]["role"] == "assistant" else messages
            head_ids = self._ids(self.render(head))
            prefix, paths = continuation_paths(lambda text: self._tokenizer(text, add_special_tokens=False)["input_ids"],
                                               context, item.letters)
            scored = sorted({token for letter_paths in paths.values() for path in letter_paths for token in path})
            if len(scored) > MAX_SCORED_TOKENS:
                raise RuntimeError(f"vllm_robust: {len(scored)} letter tokens to score for {item.request.args[4]} doc "
                                   f"{item.request.args[3]}; vLLM scores at most {MAX_SCORED_TOKENS} per request")
            base = head_ids + prefix
            for stem in branches(paths):
                for depth in range(len(stem) + 1):
                    key = (tuple(base + list(stem[:depth])), tuple(scored))
                    if key not in index_of:
                        index_of[key] = len(contexts)
                        contexts.append((key, item.images))
            plans.append((item, base, prefix, paths, scored, forced))
        if not contexts:
            return {}
        prompts = [self._prompt(list(ids), images) for (ids, _scored), images in contexts]
        params = [SamplingParams(max_tokens=1, temperature=0.0, logprob_token_ids=list(scored), detokenize=False)
                  for (_ids, scored), _images in contexts]
        outputs = self.engine.generate(prompts, params, use_tqdm=False)
        rows = [output.outputs[0].logprobs[0] for output in outputs]

        distributions = {}
        for item, base, prefix, paths, scored, forced in plans:
            width = max(scored) + 1

            def forward(extra: list[int], base=base, scored=scored, width=width) -> torch.Tensor:
                table = torch.full((len(extra) + 1, width), float("-inf"), dtype=torch.float64)
                for depth in range(len(extra) + 1):
                    logprobs = rows[index_of[(tuple(base + extra[:depth]), tuple(scored))]]
                    for token in scored:
                        table[depth, token] = logprobs[token].logprob
                return table

            distributions[item.index] = {"raw": letter_masses(forward, prefix, paths), "forced": forced}
        return distributions
