"""The approval page's templates are strict: a template that prints a value nobody passed
makes the gateway answer 500 (its JSON error), never an approval page with holes in it, and
rendering a page without one of its variables fails instead of showing an empty queue."""

from __future__ import annotations

import pytest
from jinja2 import ChoiceLoader, DictLoader, UndefinedError

from gateway import approvals_render
from tests.gateway.conftest import Gateway

BROKEN_SIGN_IN = '{% extends "approvals/base.html" %}{% block body %}<p>{{ not_passed }}</p>{% endblock %}'


@pytest.fixture
def broken_sign_in():
    """The gateway's own environment (the in-process server renders with it), with a sign-in
    template that prints a variable the page never passes."""
    env = approvals_render.templates
    original = env.loader
    env.loader = ChoiceLoader([DictLoader({"approvals/sign_in.html": BROKEN_SIGN_IN}), original])
    env.cache.clear()
    try:
        yield
    finally:
        env.loader = original
        env.cache.clear()


async def test_a_template_error_is_a_500_not_an_empty_page(gw: Gateway, broken_sign_in) -> None:
    r = await gw.http.get("/approvals")
    assert r.status_code == 500, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["error"]["code"] == "internal"
    assert "<html" not in r.text and "Sign in" not in r.text


async def test_the_intact_page_renders_after(gw: Gateway) -> None:
    r = await gw.http.get("/approvals")
    assert r.status_code == 200 and 'name="token"' in r.text


def test_a_page_without_one_of_its_variables_is_an_error() -> None:
    with pytest.raises(UndefinedError, match="proposals"):
        approvals_render.html_page("queue.html", "Waiting for you", content=[], campaigns=[])
    page = approvals_render.html_page("queue.html", "Waiting for you", content=[], campaigns=[], proposals=[])
    assert 'id="nothing"' in page.body.decode()
