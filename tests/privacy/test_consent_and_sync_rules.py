"""Pure rules: consent per purpose (withdrawal wins ties), the golden record's
last-writer-wins merge (order never matters), platform views and mismatch detection."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from domain.consent import (
    ConsentRecord,
    ConsentState,
    Purpose,
    cdp_observed,
    consent_mismatches,
    crm_observed,
    crm_properties,
    email_platform_observed,
    from_capture,
    opt_out,
    withdrawals_seen,
)
from domain.privacy import lead_of_workflow
from domain.sync import ContactChange, GoldenRecord, field_mismatches, merge, platform_state

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_consent_latest_wins_and_a_withdrawal_wins_a_tie() -> None:
    state = ConsentState()
    state.apply_all(from_capture(True, "capture:webinar", at(0)))
    assert state.allows(Purpose.EMAIL_MARKETING) and state.granted(Purpose.AD_AUDIENCES) is None
    assert state.apply_all(opt_out("one-click", at(10))) == [Purpose.EMAIL_MARKETING, Purpose.AD_AUDIENCES]
    assert not state.apply(ConsentRecord(purpose=Purpose.EMAIL_MARKETING, granted=True, source="late", at=at(5)))
    assert not state.apply(ConsentRecord(purpose=Purpose.EMAIL_MARKETING, granted=True, source="zz", at=at(10)))
    assert state.granted(Purpose.EMAIL_MARKETING) is False
    assert state.apply(ConsentRecord(purpose=Purpose.EMAIL_MARKETING, granted=True, source="cli", at=at(11)))
    assert state.allows(Purpose.EMAIL_MARKETING)
    assert from_capture(False, "capture:web_form", at(0)) == [], "no box ticked is no record, not an opt-out"


def test_consent_merges_the_same_in_any_order() -> None:
    records = [
        ConsentRecord(purpose=p, granted=g, source=s, at=at(t))
        for p, g, s, t in [
            (Purpose.EMAIL_MARKETING, True, "capture", 0),
            (Purpose.EMAIL_MARKETING, False, "sendgrid", 7),
            (Purpose.EMAIL_MARKETING, True, "cli", 7),
            (Purpose.AD_AUDIENCES, True, "cli", 3),
            (Purpose.AD_AUDIENCES, False, "crm", 9),
            (Purpose.PROFILING, False, "cli", 1),
        ]
    ]
    outcomes = set()
    for order in itertools.permutations(records):
        state = ConsentState()
        state.apply_all(order)
        outcomes.add(tuple(sorted((p.value, r.granted, r.source) for p, r in state.records.items())))
    assert outcomes == {
        (("ad_audiences", False, "crm"), ("email_marketing", False, "sendgrid"), ("profiling", False, "cli"))
    }


def change(cid: str, source: str, t: float, origin: str | None = None, **fields) -> ContactChange:
    return ContactChange(change_id=cid, source=source, origin=origin, at=at(t), fields=fields)


def test_golden_record_takes_the_latest_source_timestamp_per_field() -> None:
    record = GoldenRecord()
    assert merge(record, change("1", "journey", 0, first_name="Ada", last_name="Lovelace")).fields == [
        "first_name",
        "last_name",
    ]
    crm = merge(record, change("2", "crm", 10, origin="crm", first_name="Augusta"))
    assert crm.fields == ["first_name"] and crm.origin_current
    mixed = merge(record, change("3", "email", 5, origin="email", first_name="Ada", last_name="Byron"))
    assert mixed.fields == ["last_name"], "per field: the newer last name wins, the older first name loses"
    assert not mixed.origin_current, "the origin holds a value that lost: it gets the winner written back"
    assert record.values() == {"first_name": "Augusta", "last_name": "Byron"}
    echo = merge(record, change("4", "crm", 12, origin="crm", first_name="Augusta"))
    assert not echo.changed and echo.origin_current, "the CRM echoing our write back changes nothing"
    assert merge(record, change("5", "cli", 13, country="de")).fields == ["country"]
    assert record.value("country") == "DE"
    with pytest.raises(ValidationError, match="not a synced contact field"):
        change("6", "crm", 1, email="x@y.example")


def test_concurrent_edits_converge_whatever_the_arrival_order() -> None:
    rng = random.Random(8)
    sources = ["crm", "journey", "cli", "email"]
    changes = [
        change(
            str(i),
            rng.choice(sources),
            rng.choice([1, 2, 2, 3, 5, 5, 8]),
            **{rng.choice(["first_name", "last_name", "company"]): rng.choice(["Ann", "Bo", "Cy", None])},
        )
        for i in range(12)
    ]
    results = set()
    for _ in range(300):
        order = changes[:]
        rng.shuffle(order)
        record = GoldenRecord()
        for c in order + order[:3]:  # duplicates change nothing either
            merge(record, c)
        results.add(tuple(sorted((k, v.value, v.at, v.source) for k, v in record.fields.items())))
    assert len(results) == 1


def test_platform_views_never_undo_an_opt_out() -> None:
    record = GoldenRecord()
    merge(record, change("1", "journey", 0, first_name="Ada", company="Acme"))
    record.consent.apply_all(from_capture(True, "capture", at(0)))
    crm = platform_state(record, "crm")
    assert crm["firstname"] == "Ada" and crm["mops_consent_email_marketing"] == "granted"
    assert "hs_email_optout" not in crm, "the sync never clears HubSpot's own opt-out flag"
    assert platform_state(record, "email") == {"first_name": "Ada"}, "SendGrid holds no company"
    assert platform_state(record, "ads") is None, "no ad consent recorded: nothing to write"
    record.consent.apply_all(opt_out("one-click", at(5)))
    assert platform_state(record, "crm")["hs_email_optout"] == "true"
    assert platform_state(record, "email")["__suppressed"] is True
    assert platform_state(record, "ads") == {"member": False}
    assert platform_state(record, "cdp")["email_subscribe"] == "unsubscribed"


def test_mismatches_name_fields_never_values() -> None:
    record = GoldenRecord()
    merge(record, change("1", "journey", 0, first_name="Ada", last_name="Lovelace"))
    compared, found = field_mismatches(
        "L1", record, "crm", {"firstname": "ada ", "lastname": "Byron", "company": "Enriched Co"}
    )
    assert compared == 2 and [(m.platform, m.field) for m in found] == [("crm", "first_name"), ("crm", "last_name")]
    assert "Lovelace" not in repr(found) and "Byron" not in repr(found)
    compared, missing = field_mismatches("L1", record, "email", None)
    assert compared == 2 and len(missing) == 2, "a platform without the contact misses every known field"


def test_consent_mismatches_and_opt_outs_seen_on_platforms() -> None:
    state = ConsentState()
    state.apply_all(from_capture(True, "capture", at(0)))
    observed = (
        crm_observed({"mops_consent_email_marketing": "granted"})
        + email_platform_observed(True)
        + cdp_observed({"email_subscribe": "opted_in"})
    )
    [m] = consent_mismatches(state, observed)
    assert (m.platform, m.purpose, m.expected, m.observed) == ("email", Purpose.EMAIL_MARKETING, True, False)
    assert withdrawals_seen(state, observed) == [Purpose.EMAIL_MARKETING], "an opt-out on a platform is adopted"
    state.apply_all(opt_out("sendgrid", at(1)))
    observed = crm_observed(crm_properties(state)) + email_platform_observed(False) + cdp_observed({})
    assert {(m.platform, m.purpose.value) for m in consent_mismatches(state, observed)} == {
        ("email", "email_marketing"),
        ("cdp", "email_marketing"),
        ("cdp", "ad_audiences"),
    }
    assert withdrawals_seen(state, observed) == []


def test_lead_scoped_workflow_ids() -> None:
    lead = "0123456789abcdef01234567"
    assert {lead_of_workflow(f"{p}-{lead}") for p in ("lead", "contact-sync", "erasure")} == {lead}
    assert lead_of_workflow(f"form-confirm-newsletter-2-{lead}") == lead, "a pending double opt-in"
    assert lead_of_workflow("reconcile-data-x") is None and lead_of_workflow(f"lead-{lead}-x") is None
    assert lead_of_workflow(None) is None
