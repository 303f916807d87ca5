"""Where the shipped task YAMLs and Jinja templates are, from a wheel and an editable install alike."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jinja2


def tasks_dir() -> Path:
    """Directory of our task YAMLs (what ``--include_path`` takes)."""
    return Path(str(files("lmms_robust.tasks")))


def templates_dir() -> Path:
    return Path(str(files("lmms_robust.templates")))


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


def render(template_name: str, **variables) -> str:
    """Render ``templates/<template_name>`` with strict undefined variables; surrounding whitespace stripped."""
    return _environment().get_template(template_name).render(**variables).strip()
