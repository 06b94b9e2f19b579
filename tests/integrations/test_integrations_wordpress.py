"""WordPressClient against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.wordpress import WordPressClient, wp_date_gmt


def draft(key: str = "content-1:draft", **overrides) -> dict:
    return {
        "title": "Q3 launch: what's new",
        "content_html": "<p>Hello</p>",
        "slug": "q3-launch",
        "idempotency_key": key,
        **overrides,
    }


def in_days(days: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


async def test_create_draft_shape(sandbox, wordpress, admin):
    post = await wordpress.create_post(**draft())

    assert post.status == "draft" and post.slug == "q3-launch" and post.date_gmt is None
    assert post.title == "Q3 launch: what's new"  # the raw title, not WordPress's HTML-escaped rendering
    assert post.link == f"{sandbox.url}/?p={post.id}"  # drafts have no pretty permalink
    [effect] = await admin.effects("wordpress", "post.create")
    assert effect["key"] == "content-1:draft"
    assert effect["summary"] == {
        "id": post.id,
        "status": "draft",
        "slug": "q3-launch",
        "title": "Q3 launch: what's new",
        "date_gmt": None,
    }
    assert await wordpress.get_post(post.id) == post


async def test_same_key_twice_is_one_post(wordpress, admin):
    first = await wordpress.create_post(**draft())
    second = await wordpress.create_post(**draft())

    assert first == second
    assert len(await admin.effects("wordpress", "post.create")) == 1


async def test_slug_lookup_finds_the_post_without_the_header(sandbox, wordpress, admin):
    """Real WordPress ignores Idempotency-Key: the slug lookup is what prevents a duplicate."""
    first = await wordpress.create_post(**draft(key="attempt-1"))
    await wordpress.update_post(first.id, status="publish")
    again = await wordpress.create_post(**draft(key="attempt-2"))  # a different key: no replay possible

    assert again.id == first.id and again.status == "publish"
    assert len(await admin.effects("wordpress", "post.create")) == 1
    assert await admin.replays("wordpress") == 0  # found by the lookup, not replayed by the sandbox


async def test_publish_then_unpublish(sandbox, wordpress, admin):
    post = await wordpress.create_post(**draft())

    published = await wordpress.update_post(post.id, status="publish")
    assert published.status == "publish" and published.link == f"{sandbox.url}/q3-launch/"
    assert published.date_gmt is not None
    assert abs(datetime.fromisoformat(published.date_gmt).replace(tzinfo=UTC) - datetime.now(UTC)) < timedelta(
        minutes=1
    )

    retracted = await wordpress.update_post(post.id, status="draft")
    assert retracted.status == "draft" and retracted.link == f"{sandbox.url}/?p={post.id}"
    assert retracted.date_gmt == published.date_gmt  # WordPress keeps the date of a once-published post

    updates = await admin.effects("wordpress", "post.update")
    assert [(e["summary"]["status"], e["summary"]["changed"]) for e in updates] == [
        ("publish", ["status", "date_gmt"]),
        ("draft", ["status"]),
    ]


async def test_publishing_twice_changes_nothing(wordpress, admin):
    post = await wordpress.create_post(**draft())
    first = await wordpress.update_post(post.id, status="publish")
    second = await wordpress.update_post(post.id, status="publish")

    assert first == second
    assert len(await admin.effects("wordpress", "post.update")) == 1
    assert await admin.replays("wordpress") == 1


async def test_schedule_with_future_status_and_utc_date(sandbox, wordpress):
    post = await wordpress.create_post(**draft())
    when = in_days(2)

    scheduled = await wordpress.update_post(post.id, status="future", date_gmt=when.isoformat())

    assert scheduled.status == "future"
    assert scheduled.date_gmt == when.replace(tzinfo=None).isoformat()  # UTC, no offset
    assert scheduled.link == f"{sandbox.url}/?p={post.id}"  # not live yet


def test_dates_are_sent_as_naive_utc():
    assert wp_date_gmt("2024-05-01T12:00:00+02:00") == "2024-05-01T10:00:00"
    assert wp_date_gmt("2024-05-01T10:00:00Z") == "2024-05-01T10:00:00"
    assert wp_date_gmt("2024-05-01T10:00:00.123456") == "2024-05-01T10:00:00"


async def test_scheduled_post_is_published_when_its_time_has_come(wordpress):
    """Like WordPress's scheduler (and `wp_insert_post` for a past date): future → publish."""
    post = await wordpress.create_post(**draft())
    past = await wordpress.update_post(post.id, status="future", date_gmt=in_days(-1).isoformat())
    assert past.status == "publish"


async def test_future_without_a_date_is_refused(wordpress, admin):
    post = await wordpress.create_post(**draft())
    with pytest.raises(PlatformRejected) as caught:
        await wordpress.update_post(post.id, status="future")
    assert (caught.value.status, caught.value.code) == (400, "rest_invalid_param")
    assert "date_gmt" in caught.value.message
    assert (await wordpress.get_post(post.id)).status == "draft"
    assert await admin.effects("wordpress", "post.update") == []


async def test_update_only_sends_the_given_fields(wordpress):
    post = await wordpress.create_post(**draft())
    updated = await wordpress.update_post(post.id, title="New title")
    assert (updated.title, updated.status, updated.slug) == ("New title", "draft", "q3-launch")


async def test_invalid_status_is_rest_invalid_param(wordpress):
    with pytest.raises(PlatformRejected) as caught:
        await wordpress.create_post(**draft(status="live"))
    err = caught.value
    assert (err.status, err.code, err.retryable) == (400, "rest_invalid_param", False)
    assert "status" in err.message


async def test_unknown_post_is_rest_post_invalid_id(wordpress):
    with pytest.raises(PlatformRejected) as caught:
        await wordpress.get_post(999_999)
    assert (caught.value.status, caught.value.code) == (404, "rest_post_invalid_id")


@pytest.mark.parametrize(
    ("user", "password", "code"),
    [
        ("mops", "wrong pass", "incorrect_password"),
        ("nobody", "sandbox wp app pass", "invalid_username"),
        ("", "", "rest_not_logged_in"),
    ],
)
async def test_bad_credentials_are_rejected_with_wordpress_codes(sandbox, admin, user, password, code):
    async with WordPressClient(sandbox.url, user, password) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.get_post(1)
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, code, False)


async def test_app_password_spaces_are_optional(sandbox, admin):
    password = sandbox.tokens.wordpress_app_password.get_secret_value().replace(" ", "")
    async with WordPressClient(sandbox.url, sandbox.tokens.wordpress_user, password) as client:
        assert (await client.create_post(**draft())).status == "draft"


async def test_rate_limit_reads_retry_after(wordpress, admin):
    await admin.set_faults("wordpress", rate_limit_next=1, retry_after_s=4)
    with pytest.raises(RateLimited) as caught:
        await wordpress.create_post(**draft())
    assert (caught.value.status, caught.value.retry_after, caught.value.retryable) == (429, 4.0, True)


async def test_lost_create_response_then_retry_creates_once(wordpress, admin):
    await admin.set_faults(
        "wordpress", fail_next=1, fail_after_apply=True, error_status=502, path_prefix="/wp-json/wp/v2/posts"
    )
    with pytest.raises(PlatformUnavailable) as caught:
        await wordpress.create_post(**draft())
    assert (caught.value.status, caught.value.code) == (502, "internal_server_error")

    post = await wordpress.create_post(**draft())
    [created] = await admin.effects("wordpress", "post.create")
    assert created["summary"]["id"] == post.id


async def test_state_endpoint_reflects_posts(sandbox, wordpress, admin):
    post = await wordpress.create_post(**draft())
    await wordpress.update_post(post.id, status="publish")
    [seen] = (await admin.state("wordpress"))["posts"]
    assert (seen["id"], seen["status"], seen["link"]) == (post.id, "publish", f"{sandbox.url}/q3-launch/")

    await wordpress.update_post(post.id, status="draft")
    [seen] = (await admin.state("wordpress"))["posts"]
    assert seen["status"] == "draft"


async def test_requests_carry_basic_auth_and_edit_context():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "GET":
            return httpx.Response(200, json=[])
        return httpx.Response(
            201,
            json={
                "id": 7,
                "status": "draft",
                "slug": "s",
                "link": "https://b.example/?p=7",
                "title": {"rendered": "A &amp; B"},
                "date_gmt": None,
            },
        )

    async with WordPressClient("https://b.example/", "ed", "abcd efgh", transport=httpx.MockTransport(handler)) as wp:
        post = await wp.create_post(title="A & B", content_html="<p/>", slug="s", idempotency_key="k")
    assert post.title == "A & B"  # unescaped from `rendered` when `raw` is absent
    lookup, create = seen
    assert lookup.url.params["slug"] == "s" and lookup.url.params["status"] == "draft,pending,publish,future,private"
    assert create.headers["authorization"] == "Basic ZWQ6YWJjZCBlZmdo"  # ed:abcd efgh
    assert create.headers["idempotency-key"] == "k"
    assert create.url.path == "/wp-json/wp/v2/posts" and create.url.params["context"] == "edit"
