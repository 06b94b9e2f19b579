"""Campaign touches on a lead's path: UTM parameters from links, captures and events."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.leads import EngagementEvent, LeadCapture, Utm, capture_touch

AT = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def test_utm_from_a_campaign_link() -> None:
    url = (
        "https://site.example/spring?ref=x&utm_source=facebook&utm_medium=paid_social"
        "&utm_campaign=spring-2027&utm_content=meta_ads#top"
    )
    assert Utm.from_url(url) == Utm(source="facebook", medium="paid_social", campaign="spring-2027", content="meta_ads")
    assert Utm.from_url("https://site.example/pricing?ref=x") is None
    assert Utm.from_url(None) is None
    assert Utm.from_url("https://site.example/?utm_campaign=") is None, "blank parameters are no touch"


def test_a_click_on_a_campaign_link_is_a_touch_and_an_open_is_not() -> None:
    click = EngagementEvent(
        event_id="e1", type="click", at=AT, detail="https://site.example/s?utm_campaign=spring&utm_content=email"
    )
    touch = click.touch()
    assert touch is not None and touch.kind == "click" and touch.at == AT
    assert (touch.utm.campaign, touch.utm.content) == ("spring", "email")
    assert EngagementEvent(event_id="e2", type="open", at=AT).touch() is None
    given = EngagementEvent(event_id="e3", type="visit", at=AT, utm=Utm(campaign="spring", content="google_ads"))
    assert given.touch().utm.content == "google_ads"


def test_every_capture_is_a_touch_with_its_source() -> None:
    c = LeadCapture(
        capture_id="c1",
        email="Ada@Acme.example",
        source="webinar",
        captured_at=AT,
        utm=Utm(campaign="spring", content="linkedin"),
    )
    touch = capture_touch(c)
    assert touch.kind == "capture:webinar" and touch.utm.campaign == "spring"
    assert capture_touch(c.model_copy(update={"utm": None})).utm is None
