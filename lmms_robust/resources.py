"""Where the shipped task YAMLs and Jinja templates are, from a wheel and an editable install alike; users' templates
in a sandbox (``UserTemplate``)."""

from __future__ import annotations

import hashlib
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


MAX_REPEAT = 100_000
"""The sandbox refuses ``text * n`` (and ``x ** n``) results beyond this size: a template must not exhaust memory."""


@lru_cache(maxsize=1)
def _sandbox():
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**"])

        def call_binop(self, context, operator, left, right):
            counts = [v for v in (left, right) if isinstance(v, int) and not isinstance(v, bool)]
            if operator == "*" and any(isinstance(v, (str, list, tuple)) for v in (left, right)):
                if any(n > MAX_REPEAT for n in counts):
                    raise SecurityError(f"repeating a value more than {MAX_REPEAT} times")
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
                raise SecurityError("an exponent above 64")
            return super().call_binop(context, operator, left, right)

    return Sandbox


class TemplateError(ValueError):
    """A user's template that cannot be used: the message names the file (and line) and the fix."""


class UserTemplate:
    """A user-supplied Jinja file (``--prompt-template``), compiled and rendered in Jinja's immutable sandbox.

    A template is code: in a plain ``jinja2.Environment``, ``{{ cycler.__init__.__globals__.os.popen('id').read() }}``
    runs a shell command. The sandbox refuses attribute access to internals (``__init__``, ``__globals__``, ...) and
    any call that changes a value, so a template can only format the variables it is given. ``{% include %}`` reaches
    files in the template's own folder only. Undefined variables are errors (StrictUndefined), as in our templates.
    """

    def __init__(self, path: str | Path, flag: str = "--prompt-template"):
        path = Path(path)
        self.path, self.flag = path, flag
        if not path.is_file():
            raise TemplateError(f"{flag} {path} is not a file")
        self.source_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        """The template file's content hash (part of what a cached reply depends on)."""
        env = _sandbox()(loader=jinja2.FileSystemLoader(str(path.resolve().parent)),
                                            undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                                            autoescape=False)
        try:
            self._template = env.get_template(path.name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"{flag} {path}, line {exc.lineno}: {exc.message}") from None
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{flag} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None

    def render(self, **variables) -> str:
        """The rendered text, surrounding whitespace stripped."""
        from jinja2.exceptions import SecurityError

        try:
            return self._template.render(**variables).strip()
        except SecurityError as exc:
            raise TemplateError(f"{self.flag} {self.path}: refused by the template sandbox ({exc}); a prompt "
                                f"template may only format its variables: {sorted(variables)}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{self.flag} {self.path}: {exc.message}; available variables: "
                                f"{sorted(variables)}") from None
        except jinja2.TemplateError as exc:  # a missing include, a filter error, ...
            raise TemplateError(f"{self.flag} {self.path}: {exc}") from None
