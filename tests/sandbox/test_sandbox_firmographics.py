"""Deterministic enrichment by e-mail domain."""

from __future__ import annotations

from sandbox.firmographics import enrich


def test_known_domains():
    assert enrich("a@acme.example")["numberofemployees"] == "5000"
    assert enrich("a@globex.example")["industry"] == "Financial Services"
    assert enrich("a@initech.example")["numberofemployees"] == "300"
    assert enrich("a@smallshop.example")["industry"] == "Retail"


def test_unknown_domains_are_deterministic_and_complete():
    first, second = enrich("x@umbrella.example"), enrich("x@umbrella.example")
    assert first == second
    assert set(first) == {"company", "industry", "numberofemployees", "annualrevenue", "jobtitle", "country"}
    assert first["company"] == "Umbrella"
    assert int(first["annualrevenue"]) == int(first["numberofemployees"]) * 150_000


def test_free_mail_is_not_enriched():
    assert enrich("someone@gmail.com") == {}
