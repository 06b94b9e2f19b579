"""domain.templating: the one Jinja2 set-up for HTML. Values are escaped as html.escape does,
a missing variable, a missing attribute or a printed None is an error (never an empty string),
and the package templates of both users load."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, UndefinedError

from domain.templating import environment, render


def strict(source: str):
    env = environment("domain")
    env.loader = DictLoader({"t.html": source})
    return env


def test_values_are_escaped_like_html_escape() -> None:
    env = strict('<p title="{{ v }}">{{ v }}</p>{{ m }}')
    from markupsafe import Markup

    html = render(env, "t.html", v="<b>\"x\" & 'y'</b>", m=Markup("<i>kept</i>"))
    assert (
        html == '<p title="&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/b&gt;">'
        "&lt;b&gt;&quot;x&quot; &amp; &#x27;y&#x27;&lt;/b&gt;</p><i>kept</i>"
    )


@pytest.mark.parametrize(
    ("source", "context", "named"),
    [
        ("<p>{{ missing }}</p>", {}, "missing"),
        ("<p>{{ card.nope }}</p>", {"card": object()}, "nope"),
        ("<p>{% for x in missing %}{{ x }}{% endfor %}</p>", {}, "missing"),
    ],
)
def test_a_missing_value_is_an_error_not_an_empty_string(source: str, context: dict, named: str) -> None:
    with pytest.raises(UndefinedError, match=named):
        render(strict(source), "t.html", **context)


def test_printing_none_is_an_error() -> None:
    with pytest.raises(UndefinedError, match="None"):
        render(strict("<p>{{ v }}</p>"), "t.html", v=None)
    # The template decides what an absent value looks like.
    assert render(strict("<p>{% if v %}{{ v }}{% else %}none yet{% endif %}</p>"), "t.html", v=None) == (
        "<p>none yet</p>"
    )


@pytest.mark.parametrize(
    ("package", "names"),
    [
        ("gateway", {"approvals/base.html", "approvals/queue.html", "approvals/sign_in.html"}),
        ("domain", {"reports/base.html", "reports/dashboard.html", "reports/executive.html"}),
    ],
)
def test_package_templates_load(package: str, names: set[str]) -> None:
    env = environment(package)
    assert names <= set(env.list_templates())
    for name in env.list_templates():
        env.get_template(name)  # every template compiles
