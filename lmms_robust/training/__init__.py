"""Training side (PROTOCOL.md §6): GRPO rewards, adversarial augmentation and prefill-aware chat templates.

The rewards call the evaluation's own parser (``lmms_robust.core.parse``), so what training rewards is exactly
what the suite measures. ``rewards`` and ``chat`` are pure (no torch, no lmms_eval); ``augment`` needs
``datasets``. See docs/training.md for TRL and verl examples.
"""

from lmms_robust.training.augment import (AUGMENTATIONS, DEFAULT_PROBABILITIES, augment_dataset, augment_item,
                                          draw_augmentation)
from lmms_robust.training.chat import prefill_chat_template, render_prompt
from lmms_robust.training.rewards import (ACCURACY_WEIGHT, FORMAT_WEIGHT, RewardBreakdown, accuracy_reward,
                                          compute_faithfulness_score, compute_score, consistency_indicator,
                                          faithfulness_reward, format_reward, full_turn, item_from_json, item_to_json,
                                          score_completion, total_reward, trl_accuracy_reward,
                                          trl_consistency_reward, trl_faithfulness_reward, trl_format_reward,
                                          trl_total_reward)

__all__ = [
    "ACCURACY_WEIGHT", "AUGMENTATIONS", "DEFAULT_PROBABILITIES", "FORMAT_WEIGHT", "RewardBreakdown",
    "accuracy_reward", "augment_dataset", "augment_item", "compute_faithfulness_score", "compute_score",
    "consistency_indicator", "draw_augmentation", "faithfulness_reward", "format_reward", "full_turn",
    "item_from_json", "item_to_json", "prefill_chat_template", "render_prompt", "score_completion", "total_reward",
    "trl_accuracy_reward", "trl_consistency_reward", "trl_faithfulness_reward", "trl_format_reward",
    "trl_total_reward",
]
