"""The one way mops turns data into HTML: Jinja2 templates shipped as package data.

    env = environment("gateway")                 # loads gateway/templates/
    html = render(env, "approvals/queue.html", title=..., ...)

Every environment escapes by default (a value is text unless a template marks it `|safe`)
and is strict: a variable the caller did not pass, an attribute that is not there, or a
`None` printed, raises `jinja2.UndefinedError` instead of rendering as an empty string, so a
broken template is an error, never a page with holes. It sits in domain/, the bottom room,
because both the report renderer (which an activity uses) and the gateway render with it.
"""

from __future__ import annotations

from html import escape
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError, UndefinedError
from markupsafe import Markup

__all__ = ["Environment", "TemplateError", "UndefinedError", "environment", "render"]


def environment(package: str, folder: str = "templates") -> Environment:
    """A strict, autoescaping environment loading `<package>/<folder>/`."""
    return Environment(
        loader=PackageLoader(package, folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # package data does not change under a running process
        finalize=_text,
    )


def _text(value: Any) -> Markup:
    """What `{{ value }}` prints. Escaped like `html.escape` (`&quot;`, `&#x27;`), as the pages
    always were; `None` is refused like an undefined variable: an optional value is the
    template's decision (`{% if %}`), never the word "None" on a page."""
    if value is None:
        raise UndefinedError("a template printed None; test optional values with {% if %}")
    if isinstance(value, Markup):
        return value
    return Markup(escape(str(value), quote=True))


def render(env: Environment, name: str, /, **context: Any) -> str:
    return env.get_template(name).render(**context)
