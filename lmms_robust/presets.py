"""Prompt presets: how each of the paper's checkpoints was asked during training (system prompt, instruction).

The table is data (``templates/presets/presets.yaml``, each entry citing its source); the instructions are Jinja
templates beside it. A backend resolves one preset per run (``preset=<name>``, else detected from the
checkpoint's name, else ``protocol``) and records which one, and how it was chosen, in every response.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from lmms_robust.resources import render, templates_dir

DEFAULT = "protocol"
AUTO = "auto"
_FIELDS = {"description", "match", "system_prompt", "instruction", "instruction_variables", "question_prefix", "source"}


class PresetError(ValueError):
    pass


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    system_prompt: str | None
    instruction: str
    question_prefix: str = ""
    instruction_variables: dict = field(default_factory=dict)
    match: str | None = None
    source: str = ""

    def instruction_text(self, is_multiple_choice: bool) -> str:
        return render(self.instruction, is_multiple_choice=is_multiple_choice, **self.instruction_variables)


@dataclass(frozen=True)
class Choice:
    """The preset in force and how it was chosen (``model_args``, ``detected: <where>`` or ``default``)."""

    preset: Preset
    how: str

    def describe(self) -> dict:
        return {"preset": self.preset.name, "preset_choice": self.how}


def table_path() -> Path:
    return templates_dir() / "presets" / "presets.yaml"


@lru_cache(maxsize=1)
def presets() -> dict[str, Preset]:
    path = table_path()
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    table = {}
    for name, entry in raw.items():
        unknown = set(entry) - _FIELDS
        missing = {"description", "system_prompt", "instruction"} - set(entry)
        if unknown or missing:
            raise PresetError(f"{path}: preset {name!r}: unknown fields {sorted(unknown)}, missing {sorted(missing)}")
        if not (templates_dir() / entry["instruction"]).is_file():
            raise PresetError(f"{path}: preset {name!r}: no template {entry['instruction']!r} under {templates_dir()}")
        table[name] = Preset(name=name, **entry)
    if DEFAULT not in table:
        raise PresetError(f"{path}: the table needs a {DEFAULT!r} preset (the protocol's own prompt)")
    return table


def detect(pretrained: str) -> tuple[Preset, str] | None:
    """The first preset whose pattern is in the checkpoint's path, else in its config's ``_name_or_path`` (a
    fine-tune's config often names the checkpoint it started from, so the path decides first)."""
    names = [str(pretrained)]
    config = Path(pretrained) / "config.json"
    if config.is_file():
        try:
            original = json.loads(config.read_text(encoding="utf-8")).get("_name_or_path")
        except ValueError:
            original = None
        if original:
            names.append(str(original))
    for name in names:
        for preset in presets().values():
            if preset.match and re.search(preset.match, name, re.IGNORECASE):
                return preset, name
    return None


def choose(requested: str | None, pretrained: str) -> Choice:
    """``preset=<name>`` wins; ``auto`` (the default) detects from the checkpoint and falls back to ``protocol``."""
    table = presets()
    requested = (requested or AUTO).strip()
    if requested != AUTO:
        if requested not in table:
            raise PresetError(f"preset={requested!r} is not a preset; choose one of {', '.join(sorted(table))} "
                              f"(or preset=auto to detect it from the checkpoint's name)")
        return Choice(table[requested], "model_args")
    found = detect(pretrained)
    if found is None:
        return Choice(table[DEFAULT], "default")
    preset, where = found
    return Choice(preset, f"detected: {where}")
