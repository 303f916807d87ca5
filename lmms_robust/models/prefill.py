"""Chat backend bases that continue a prefilled assistant turn exactly.

lmms-eval's chat backends render every conversation with ``add_generation_prompt=True``, so a trailing assistant
message becomes a closed turn followed by a fresh one. Here a trailing assistant message is continued instead
(``continue_final_message=True``): the model's first new token follows the prefix directly.

``ChatBackend`` is what every engine shares (model_args, prompt preset, stop ids, provenance, rendering, request
order, doc lookup, the response log, generation settings, finish reasons); ``PrefillChatModel`` is the transformers engine on top of
it, and ``lmms_robust.models.vllm_backend`` the vLLM one. A transformers subclass supplies three things: how to
load the checkpoint, which config ``model_type`` it accepts, and how to turn rendered texts plus HF-style messages
into model inputs. Everything else (batching, data parallelism, progress, cache hooks) lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import torch
from accelerate import Accelerator
from lmms_eval.api.instance import GenerationResult, Instance, TokenCounts
from lmms_eval.api.model import lmms
from lmms_eval.protocol import ChatMessages
from tqdm import tqdm

from lmms_robust.core.letters import answer_context
from lmms_robust.core.trailer import attach
from lmms_robust.harness import provenance
from lmms_robust.harness.docs import fetch_doc, perturbation_from_doc
from lmms_robust.harness.hooks import conversation
from lmms_robust.models.letter_probs import continuation_paths, letter_masses
from lmms_robust.models.response_log import ResponseLog, request_key
from lmms_robust.presets import choose as choose_preset


# the most generation logits a batch keeps for its letter pass (float32): 4 GiB is batch 8 x 820 steps of Qwen's
# 152k-token vocabulary
KEPT_LOGITS_BYTES = 4 << 30


class WrongArchitecture(ValueError):
    pass


class ChatBackend(lmms):
    """What our prefill-continuing backends share, whatever the engine: the model_args common to all, the prompt
    preset, stop ids, provenance, rendering with the chat template, request order, doc lookup, generation settings,
    how a generation ended, option letters.

    A subclass supplies ``load`` (setting ``processor``, ``_tokenizer``, ``generation_config``, ``checkpoint_config``
    and ``dtype_name``) and ``generate_until``; ``setup`` runs once the process group is known, before ``load``."""

    is_simple = False
    accepted_model_types: tuple[str, ...] = ()
    backend_name = "prefill_chat"

    def __init__(self, pretrained: str, batch_size: int | str = 1, system_prompt: str | None = None,
                 max_new_tokens: int | None = None, letter_probs: bool = True, preset: str | None = None,
                 response_log: str | None = None, **kwargs) -> None:
        super().__init__()
        self._check_architecture(pretrained, kwargs.get("revision"))
        self.accelerator = Accelerator()
        self._rank = self.accelerator.process_index
        self._world_size = self.accelerator.num_processes
        try:
            self.batch_size_per_gpu = int(batch_size)
        except ValueError:
            raise ValueError(f"{self.backend_name}: batch_size={batch_size!r} is not a whole number of requests "
                             f"(automatic batch sizing is not supported)") from None
        # the checkpoint's prompt as trained (lmms_robust.presets); an explicit system_prompt overrides its system turn
        self.preset_choice = choose_preset(preset, pretrained)
        self.system_prompt = self.preset_choice.preset.system_prompt if system_prompt is None else system_prompt
        # a cap over the task's max_new_tokens (quick smoke runs); --gen_kwargs max_new_tokens=N also works
        self.max_new_tokens_cap = int(max_new_tokens) if max_new_tokens else None
        # the option-letter distribution at the answer position, for our multiple-choice docs
        self.letter_probs = str(letter_probs).lower() not in ("false", "0", "no")
        self.setup()
        self.load(pretrained, **kwargs)
        self.stop_token_ids = self._stop_token_ids()
        self.model_info = self._model_info(pretrained)
        provenance.record_model(self.model_info)
        # responses logged as they finish, read back on restart (models/response_log.py)
        self.response_log = ResponseLog(response_log, self.rank) if response_log else None
        for line in (self.response_log.skipped if self.response_log else []):
            print(f"{self.backend_name}: response log: {line}", flush=True)

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        """lmms-eval passes its CLI flags (``--batch_size``, ``--device``) beside model_args; where both name a
        setting, model_args wins (lmms-eval itself would fail on the duplicate keyword)."""
        from lmms_eval import utils

        args = utils.simple_parse_args_string(arg_string)
        extra = {k: v for k, v in (additional_config or {}).items() if v is not None and k not in args}
        return cls(**args, **extra)

    # --- what a subclass provides -------------------------------------------------------------------------
    def setup(self) -> None:
        pass

    def load(self, pretrained: str, **kwargs) -> None:
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------------------
    def _stop_token_ids(self) -> list[int]:
        """Every id that ends a turn: the checkpoint's generation_config eos ids (Qwen2.5-VL lists two), the
        tokenizer's eos, and ``<|im_end|>`` where the vocabulary has it. Nothing else stops a generation."""
        configured = getattr(self.generation_config, "eos_token_id", None)
        ids = list(configured) if isinstance(configured, (list, tuple)) else [configured]
        ids.append(self.tokenizer.eos_token_id)
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.append(im_end)
        return sorted({i for i in ids if isinstance(i, int)})

    def _model_info(self, pretrained: str) -> dict:
        """What reproduces this backend's generations, for the results file and every record."""
        template = getattr(self.processor, "chat_template", None) or getattr(self.tokenizer, "chat_template", None)
        return {
            "backend": self.backend_name,
            "checkpoint": str(pretrained),
            "revision": getattr(self, "revision", None) or getattr(self.checkpoint_config, "_commit_hash", None),
            "chat_template_sha256": provenance.sha256_text(template if isinstance(template, str) else None),
            "system_prompt": self.system_prompt,
            **self.preset_choice.describe(),
            "dtype": self.dtype_name,
            "stop_token_ids": ",".join(map(str, self.stop_token_ids)),
            "batch_size": self.batch_size_per_gpu,
            "letter_probs": self.letter_probs,
            "max_new_tokens_cap": self.max_new_tokens_cap,
        }

    def _check_architecture(self, pretrained: str, revision: str | None = None) -> None:
        from transformers import AutoConfig

        model_type = getattr(AutoConfig.from_pretrained(pretrained, revision=revision), "model_type", None)
        if model_type not in self.accepted_model_types:
            raise WrongArchitecture(
                f"{pretrained} is a {model_type!r} checkpoint; the {self.backend_name} backend loads "
                f"{', '.join(self.accepted_model_types)} checkpoints only. Use a backend for {model_type!r} checkpoints, or add one "
                f"by subclassing lmms_robust.models.prefill.PrefillChatModel."
            )

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def eot_token_id(self):
        return self._tokenizer.eos_token_id

    @property
    def batch_size(self):
        return self.batch_size_per_gpu

    @property
    def rank(self):
        return self._rank

    @property
    def world_size(self):
        return self._world_size

    def loglikelihood(self, requests):
        raise NotImplementedError(f"{self.backend_name} has no loglikelihood; our tasks only generate")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError(f"{self.backend_name} does not do multi-round generation")

    def render(self, hf_messages: list[dict]) -> str:
        """Chat-template text; a trailing assistant message is continued, not closed."""
        if self.system_prompt and hf_messages[0]["role"] != "system":
            hf_messages = [{"role": "system", "content": [{"type": "text", "text": self.system_prompt}]}, *hf_messages]
        if hf_messages[-1]["role"] == "assistant":
            return self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=False,
                                                      continue_final_message=True)
        return self.processor.apply_chat_template(hf_messages, tokenize=False, add_generation_prompt=True)

    def _prepare(self, request: Instance) -> "Prompt":
        """One request rendered once: its doc, HF messages (our docs: in this run's preset), text, log key."""
        _ctx, doc_to_messages, gen_kwargs, doc_id, task, split = request.args
        doc = fetch_doc(self.task_dict, task, split, doc_id)
        raw = conversation(doc, self.preset_choice.preset) if "lr_perturbation" in doc else doc_to_messages(doc)
        messages = ChatMessages(messages=raw).to_hf_messages()
        text = self.render(messages)
        key = None
        if self.response_log is not None:
            key = request_key(task, doc.get("lr_item_id", doc_id), text, dict(gen_kwargs or {}), self.model_info)
        return Prompt(doc, messages, text, key, task, doc.get("lr_item_id", doc_id))

    def resume(self, requests: list[Instance]) -> tuple[list["Prompt"], list[GenerationResult | None], list[int]]:
        """Every request prepared; those the response log holds answered from it; the indices of the rest, by
        task then doc id (a task's docs, and the images they share, sit together)."""
        prepared = [self._prepare(request) for request in requests]
        results: list[GenerationResult | None] = [None] * len(requests)
        todo = []
        for index, (request, prompt) in enumerate(zip(requests, prepared)):
            logged = self.response_log.get(prompt.key) if self.response_log else None
            if logged is None:
                todo.append(index)
                continue
            self.cache_hook.add_partial("generate_until", (prompt.text, request.args[2]), logged)
            results[index] = GenerationResult(text=logged)
        if self.response_log and self.rank == 0:
            print(f"{self.backend_name}: {len(requests) - len(todo)} of {len(requests)} responses resumed from "
                  f"{self.response_log.directory}; generating {len(todo)}", flush=True)
        return prepared, results, sorted(todo, key=lambda i: (requests[i].args[4], requests[i].args[3]))

    def respond(self, request: Instance, prompt: "Prompt", answer: str, n_tokens: int) -> GenerationResult:
        """A finished response: into lmms-eval's cache hook and our response log, as lmms-eval's result."""
        self.cache_hook.add_partial("generate_until", (prompt.text, request.args[2]), answer)
        if self.response_log is not None:
            self.response_log.add(prompt.key, answer, prompt.task, prompt.item_id)
        return GenerationResult(text=answer, token_counts=TokenCounts(output_tokens=n_tokens))

    def generation_settings(self, gen_kwargs: dict | None) -> dict:
        """A request's ``until`` (non-empty strings), ``max_new_tokens`` (capped by model_args), ``temperature``
        and ``top_p``."""
        gen_kwargs = dict(gen_kwargs or {})
        until = gen_kwargs.pop("until", None) or []
        until = [until] if isinstance(until, str) else [u for u in until if u]
        max_new_tokens = int(gen_kwargs.pop("max_new_tokens", 1024))
        if self.max_new_tokens_cap:
            max_new_tokens = min(max_new_tokens, self.max_new_tokens_cap)
        temperature = float(gen_kwargs.pop("temperature", 0) or 0)
        return {"until": until, "max_new_tokens": max_new_tokens, "temperature": temperature,
                "top_p": gen_kwargs.get("top_p")}

    def _finish(self, new_ids: list[int], until: list[str]) -> tuple[str, str, int]:
        """``(text, finish_reason, output_tokens)`` of one generated row (right-padded after its end).

        ``stop``: a stop string ended it (text cut before the string); ``eos``: an end-of-turn id (the pad id too,
        when it is one); ``length``: neither, at ``max_new_tokens``.
        """
        stops = set(self.stop_token_ids)
        end = next((i for i, token in enumerate(new_ids) if token in stops), None)
        kept = new_ids if end is None else new_ids[:end]
        text = self.tokenizer.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        cut = min((text.find(s) for s in until if s in text), default=-1)
        if cut >= 0:
            return text[:cut], "stop", len(kept)
        if end is not None:
            return text, "eos", end + 1
        return text, "length", len(kept)

    @staticmethod
    def _option_letters(doc: dict) -> tuple[str, ...] | None:
        """The letters of one of our multiple-choice docs (abstain letter included); None for anything else."""
        if "lr_perturbation" not in doc:
            return None
        pert = perturbation_from_doc(doc)
        return pert.item.letters if pert.applicable and pert.item.is_multiple_choice else None


class PrefillChatModel(ChatBackend):
    """The transformers engine: ``generate`` in batches of ``batch_size``, then the letter pass (read from the
    generation's own logits where it can be, teacher-forced where not)."""

    def __init__(self, pretrained: str, device: str = "cuda", device_map: str | None = "auto",
                 attn_implementation: str | None = None, **kwargs) -> None:
        self._requested_device, self._requested_device_map = device, device_map
        super().__init__(pretrained, attn_implementation=attn_implementation, **kwargs)
        self._model.eval()

    def setup(self) -> None:
        device, device_map = self._requested_device, self._requested_device_map
        if self._world_size > 1 or device_map in (None, "", "none"):
            # data parallel: one full replica per process, on its own GPU when there are GPUs
            use_cuda = torch.cuda.is_available() and str(device).startswith("cuda")
            self._device = torch.device(f"cuda:{self.accelerator.local_process_index}" if use_cuda else "cpu")
            self.device_map = str(self._device)
        else:
            self._device = torch.device(device)
            self.device_map = device_map

    # --- what a subclass provides -------------------------------------------------------------------------
    def load(self, pretrained: str, attn_implementation: str | None = None, **kwargs) -> None:
        """Set ``self._model``, ``self.processor`` and ``self._tokenizer``."""
        raise NotImplementedError

    def prepare_inputs(self, texts: list[str], hf_messages: list[list[dict]]):
        """Processor outputs (a BatchFeature with input_ids) for rendered texts and their messages."""
        raise NotImplementedError

    @property
    def model(self):
        return self._model

    @property
    def generation_config(self):
        return self._model.generation_config

    @property
    def checkpoint_config(self):
        return self._model.config

    @property
    def dtype_name(self) -> str | None:
        return str(getattr(self._model, "dtype", "")).replace("torch.", "") or None

    @property
    def device(self):
        return self._device

    def generate_until(self, requests: List[Instance]) -> List[GenerationResult]:
        prepared, results, order = self.resume(requests)
        progress = tqdm(total=len(order), disable=self.rank != 0, desc=f"{self.backend_name} responding")
        for start in range(0, len(order), self.batch_size):
            # one batch holds only identical generation settings
            for group in _group_by_gen_kwargs(requests, order[start:start + self.batch_size]):
                batch = [(requests[i], prepared[i]) for i in group]
                for index, result in zip(group, self._generate_batch(batch)):
                    results[index] = result
                if self.response_log:
                    self.response_log.flush()
                progress.update(len(group))
        progress.close()
        return results

    def _generate_batch(self, pairs: list[tuple[Instance, "Prompt"]]) -> list[GenerationResult]:
        batch = [request for request, _ in pairs]
        prompts = [prompt for _, prompt in pairs]
        docs, hf_messages, texts = [p.doc for p in prompts], [p.messages for p in prompts], [p.text for p in prompts]
        settings = self.generation_settings(batch[0].args[2])
        until, max_new_tokens, temperature = settings["until"], settings["max_new_tokens"], settings["temperature"]
        sampling = {"do_sample": True, "temperature": temperature, "top_p": settings["top_p"]} if temperature > 0 else {"do_sample": False}
        if until:  # stop strings the task (or --gen_kwargs) asked for; ours ask for none
            sampling.update(stop_strings=until, tokenizer=self.tokenizer)
        inputs = self.prepare_inputs(texts, hf_messages).to(self.device)
        # rows with letters wanted: keep the generation's logits (and cache), so the letter pass reads them; they
        # take steps x rows x vocabulary floats, so past a budget the pass runs teacher-forced instead
        option_letters = [self._option_letters(doc) if self.letter_probs else None for doc in docs]
        kept_bytes = 4 * len(batch) * max_new_tokens * self.model.config.get_text_config().vocab_size
        keep = any(option_letters) and kept_bytes <= KEPT_LOGITS_BYTES
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, eos_token_id=self.stop_token_ids,
                                      pad_token_id=self.tokenizer.pad_token_id, num_beams=1, **sampling,
                                      return_dict_in_generate=True, output_logits=keep)
        prompt_len = inputs["input_ids"].shape[1]
        rope_deltas = getattr(getattr(self.model, "model", None), "rope_deltas", None) if keep else None
        results, images_before = [], 0
        for row, (request, prompt, letters, messages, sequence) in enumerate(
                zip(batch, prompts, option_letters, hf_messages, out.sequences)):
            answer, finish_reason, n_tokens = self._finish(sequence[prompt_len:].tolist(), until)
            n_images = _count_images(messages)
            distribution = None
            if letters:
                pad = _left_padding(inputs, row)
                generation = Generation.of_row(out, row, prompt_len, pad, rope_deltas) if keep else None
                distribution = self.letter_distribution(
                    messages, _prefill_text(messages) + answer, letters,
                    prompt_inputs=_row_inputs(inputs, row, pad, images_before, n_images), generation=generation)
            images_before += n_images
            answer = attach(answer, letters=distribution, finish_reason=finish_reason, output_tokens=n_tokens,
                            model=self.model_info)
            results.append(self.respond(request, prompt, answer, n_tokens))
        return results

    def letter_distribution(self, messages: list[dict], assistant_text: str, letters: Sequence[str],
                            prompt_inputs=None, generation: "Generation | None" = None) -> dict:
        """``{"raw": {letter: probability}, "forced": bool}`` at the answer position of ``assistant_text``.

        ``prompt_inputs``: the generation's processor outputs for this one conversation (its row of a batch),
        reused (no second image preprocessing) when its token ids end with the prefill's own tokens.
        ``generation``: the generation's token ids, per-step logits and cache. Where the model itself wrote the
        context, its logits are read directly (no pass); a step it did not take (e.g. ``>`` before `` A`` when it
        wrote ``>A``) costs one short cached step; only what neither covers runs a full forward pass.
        """
        context, forced = answer_context(assistant_text)
        head = messages[:-1] if messages[-1]["role"] == "assistant" else messages
        inputs = self._head_inputs(prompt_inputs, _prefill_text(messages)) if prompt_inputs is not None else None
        if inputs is None:
            inputs = self.prepare_inputs([self.render(head)], [head]).to(self.device)
        head_ids = inputs["input_ids"][0].tolist()

        def tokenize(text: str) -> list[int]:
            return self.tokenizer(text, add_special_tokens=False)["input_ids"]

        prefix, paths = continuation_paths(tokenize, context, letters)

        def forward(extra: list[int]) -> torch.Tensor:
            if generation is not None:
                rows = generation.rows(head_ids + prefix, extra, self.model)
                if rows is not None:
                    return rows
            logits = self.teacher_forced_logits(inputs, head_ids + prefix + extra)
            return logits[-(len(extra) + 1):].float().log_softmax(-1)

        return {"raw": letter_masses(forward, prefix, paths), "forced": forced}

    def _head_inputs(self, prompt_inputs, prefill: str):
        """The generation's inputs cut back to before the prefill, or None when the cut is not exact."""
        ids = prompt_inputs["input_ids"]
        if ids.shape[0] != 1:
            return None
        prefill_ids = self.tokenizer(prefill, add_special_tokens=False)["input_ids"] if prefill else []
        keep = ids.shape[1] - len(prefill_ids)
        if prefill_ids and ids[0, keep:].tolist() != prefill_ids:
            return None
        return {key: value[:, :keep] if _per_token(value, ids) else value for key, value in prompt_inputs.items()}

    def teacher_forced_logits(self, prompt_inputs, ids: list[int]) -> torch.Tensor:
        """Logits at every position of ``ids`` (the prompt's own ids, then any more), with the prompt's vision
        inputs. Per-token side inputs (e.g. mm_token_type_ids) grow with the sequence: added text tokens are 0."""
        prompt_ids = prompt_inputs["input_ids"]
        grown = len(ids) - prompt_ids.shape[1]
        side = {key: torch.nn.functional.pad(value, (0, grown)) if _per_token(value, prompt_ids) else value
                for key, value in prompt_inputs.items() if key not in ("input_ids", "attention_mask")}
        input_ids = torch.tensor([ids], device=self.device)
        with torch.inference_mode():
            return self.model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **side).logits[0]


def _per_token(value, ids: torch.Tensor) -> bool:
    return torch.is_tensor(value) and value.dim() == 2 and value.shape == ids.shape


def _count_images(messages: list[dict]) -> int:
    return sum(1 for message in messages for part in message["content"]
               if isinstance(part, dict) and part.get("type") == "image")


def _left_padding(inputs, row: int) -> int:
    mask = inputs.get("attention_mask")
    return 0 if mask is None else int((mask[row] == 0).sum())


def _row_inputs(inputs, row: int, pad: int, images_before: int, n_images: int):
    """One row of a batch's processor outputs, as the processor would give that conversation alone (its left
    padding dropped, its images' patches), or None when the batch holds inputs this cannot split (video)."""
    ids = inputs["input_ids"]
    if ids.shape[0] == 1:
        return inputs
    grid = inputs.get("image_grid_thw")
    if any(key.startswith("video") or key.startswith("pixel_values_videos") for key in inputs.keys()):
        return None
    out = {}
    for key, value in inputs.items():
        if _per_token(value, ids):
            out[key] = value[row:row + 1, pad:]
        elif key == "image_grid_thw":
            out[key] = value[images_before:images_before + n_images]
        elif key == "pixel_values":
            patches = grid.prod(-1).tolist()
            start = sum(patches[:images_before])
            out[key] = value[start:start + sum(patches[images_before:images_before + n_images])]
        else:
            return None  # a side input of unknown layout: let the letter pass preprocess afresh
    return out


@dataclass
class Prompt:
    """One request, rendered once: its doc, HF messages, chat-template text and response-log key."""

    doc: dict
    messages: list[dict]
    text: str
    key: str | None
    task: str
    item_id: object


class Generation:
    """One generated sequence with its per-step logits and KV cache, to read letter probabilities from."""

    def __init__(self, ids: list[int], prompt_len: int, logits, cache, rope_delta: torch.Tensor | None = None) -> None:
        self.ids, self.prompt_len, self.logits = ids, prompt_len, logits
        self._cache = cache  # a cache, or a function that builds this row's cache when a step needs it
        self._cache_ids: list[int] | None = None  # the token ids the cache holds, once it is in use
        self.rope_delta = rope_delta  # this row's M-RoPE offset for a step after a batch (None: the model's own)
        self.reads = {"generation": 0, "cached_step": 0}

    @classmethod
    def of_row(cls, out, row: int, prompt_len: int, pad: int, rope_deltas) -> "Generation":
        """Row ``row`` of a batched ``generate`` (left padding ``pad``) as if generated alone: its ids, its logits
        at each step, and a cache of its own (copied from the batch's, pads dropped, only if a step needs it)."""
        ids = out.sequences[row, pad:].tolist()
        logits = tuple(step[row:row + 1] for step in out.logits)
        if out.sequences.shape[0] == 1:
            return cls(ids, prompt_len, logits, out.past_key_values)
        batch_cache = out.past_key_values
        delta = None if rope_deltas is None else rope_deltas[row:row + 1] + pad  # positions count real tokens only

        def row_cache():
            from transformers import DynamicCache

            own = DynamicCache()
            for index, layer in enumerate(batch_cache.layers):
                own.update(layer.keys[row:row + 1, :, pad:], layer.values[row:row + 1, :, pad:], index)
            return own

        return cls(ids, prompt_len - pad, logits, row_cache if rope_deltas is not None else None, delta)

    def rows(self, base: list[int], extra: list[int], model) -> torch.Tensor | None:
        """Log-probs after ``base`` and after each token of ``extra``, or None when this sequence cannot give them."""
        full = base + extra
        # positions whose context the model itself produced: the logits of that generation step
        rows, depth = [], 0
        while depth <= len(extra):
            position = len(base) + depth  # index of the token being predicted
            step = position - self.prompt_len
            if not (0 <= step < len(self.logits)) or self.ids[:position] != full[:position]:
                break
            rows.append(self.logits[step][0].float().log_softmax(-1))
            depth += 1
        if depth == len(extra) + 1:
            self.reads["generation"] += 1
            return torch.stack(rows)
        if self._cache is None:
            return None
        # the rest from the cache: crop it to what it shares with this context, feed the tokens after that (the
        # step the model did not take, or a forced "</think><answer" the model never wrote)
        cache = self._cache() if callable(self._cache) else self._cache
        self._cache = cache
        if self._cache_ids is None:
            self._cache_ids = self.ids[:cache.get_seq_length()]
        shared = next((i for i, (a, b) in enumerate(zip(self._cache_ids, full)) if a != b),
                      min(len(self._cache_ids), len(full)))
        start = min(shared, len(base) + depth - 1)  # the first output still needed is at len(base) + depth - 1
        vision = {getattr(model.config, key, None) for key in ("image_token_id", "video_token_id")} - {None}
        if start < 1 or any(token in vision for token in full[start:]):
            return None  # the images would have to be seen again: a fresh pass
        if cache.get_seq_length() > start:
            cache.crop(start - cache.get_seq_length())  # transformers 5: a negative count of tokens to drop
        feed = torch.tensor([full[start:]], device=self.logits[0].device)
        inner = getattr(model, "model", None)
        saved = getattr(inner, "rope_deltas", None)
        if self.rope_delta is not None:
            inner.rope_deltas = self.rope_delta  # the step's M-RoPE positions continue this row's, not the batch's
        try:
            with torch.inference_mode():
                logits = model(input_ids=feed, past_key_values=cache, use_cache=True,
                               cache_position=torch.arange(start, len(full), device=feed.device)).logits[0]
        finally:
            if self.rope_delta is not None:
                inner.rope_deltas = saved
        self._cache_ids = list(full)
        self.reads["cached_step"] += 1
        stepped = logits.float().log_softmax(-1)[len(base) + depth - 1 - start:]
        return torch.cat([torch.stack(rows), stepped]) if rows else stepped


def _prefill_text(messages: list[dict]) -> str:
    if messages[-1]["role"] != "assistant":
        return ""
    return "".join(part.get("text", "") for part in messages[-1]["content"] if part.get("type") == "text")


def _group_by_gen_kwargs(requests: list[Instance], indices: list[int]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indices:
        groups.setdefault(repr(sorted((requests[i].args[2] or {}).items())), []).append(i)
    return list(groups.values())
