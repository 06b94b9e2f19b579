"""LinkedInClient against the sandbox over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from integrations.errors import PlatformRejected, PlatformUnavailable, RateLimited
from integrations.linkedin import LinkedInClient, escape_little_text

TEXT = "Our Q3 launch is live: https://mops.example/q3-launch/ #marketingops"


async def test_create_post_returns_the_share_urn(sandbox, linkedin, admin):
    urn = await linkedin.create_post(TEXT, idempotency_key="content-1:linkedin")

    assert urn.startswith("urn:li:share:")
    [effect] = await admin.effects("linkedin", "post.create")
    assert effect["key"] == "content-1:linkedin"
    assert effect["summary"]["urn"] == urn
    assert effect["summary"]["author"] == sandbox.tokens.linkedin_author
    assert effect["summary"]["text"] == TEXT
    assert (effect["summary"]["visibility"], effect["summary"]["lifecycleState"]) == ("PUBLIC", "PUBLISHED")


async def test_same_key_twice_is_two_posts_as_on_linkedin(linkedin, admin):
    first = await linkedin.create_post(TEXT, idempotency_key="k")
    second = await linkedin.create_post(TEXT, idempotency_key="k")

    assert first != second
    assert len(await admin.effects("linkedin", "post.create")) == 2 and await admin.replays("linkedin") == 0


async def test_post_with_commentary_finds_the_exact_post(linkedin):
    since = datetime.now(UTC) - timedelta(minutes=1)
    text = "Launch (beta) of mops_v2: https://mops.example/a_b #mops"  # escaped on the way out
    urn = await linkedin.create_post(text, idempotency_key="k")
    await linkedin.create_post(text + " again", idempotency_key="k2")

    assert await linkedin.post_with_commentary(text, since=since) == urn
    assert await linkedin.post_with_commentary("Launch", since=since) is None
    assert await linkedin.post_with_commentary(text, since=datetime.now(UTC) + timedelta(minutes=1)) is None


async def test_post_with_commentary_pages_through_the_finder(linkedin, monkeypatch):
    monkeypatch.setattr("integrations.linkedin.FINDER_PAGE", 2)
    since = datetime.now(UTC) - timedelta(minutes=1)
    urn = await linkedin.create_post(TEXT, idempotency_key="k")
    for n in range(5):
        await linkedin.create_post(f"later {n}", idempotency_key=f"k{n}")

    assert await linkedin.post_with_commentary(TEXT, since=since) == urn


async def test_the_finder_answers_linkedins_shape_and_refuses_a_page_too_large(sandbox, linkedin):
    await linkedin.create_post(TEXT, idempotency_key="k")
    headers = {
        "Authorization": f"Bearer {sandbox.tokens.linkedin_token.get_secret_value()}",
        "LinkedIn-Version": "202405",
        "X-Restli-Protocol-Version": "2.0.0",
        "X-RestLi-Method": "FINDER",
    }
    params = {"q": "author", "author": sandbox.tokens.linkedin_author, "count": 1}
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        found = (await http.get("/rest/posts", params=params, headers=headers)).json()
        too_many = await http.get("/rest/posts", params={**params, "count": 101}, headers=headers)
    assert found["paging"]["start"] == 0 and found["paging"]["count"] == 1
    [post] = found["elements"]
    assert post["author"] == sandbox.tokens.linkedin_author and post["lastModifiedAt"] >= post["createdAt"]
    assert too_many.status_code == 400


async def test_reserved_characters_are_escaped_so_linkedin_does_not_cut_the_text(linkedin, admin):
    text = "Launch (beta) of mops_v2 - see https://mops.example/a_b #mops"
    await linkedin.create_post(text, idempotency_key="k")

    [effect] = await admin.effects("linkedin", "post.create")
    assert effect["summary"]["commentary"] == r"Launch \(beta\) of mops\_v2 - see https://mops.example/a_b #mops"
    assert effect["summary"]["text"] == text


def test_escape_little_text_keeps_urls_and_hashtags():
    assert escape_little_text("a@b [x] {y} <z> *~|\\") == r"a\@b \[x\] \{y\} \<z\> \*\~\|\\"
    assert (
        escape_little_text("#tag C# (see https://x.example/p_(1)).") == r"#tag C\# \(see https://x.example/p_\(1\)\)."
    )


async def test_delete_then_delete_again_is_fine(linkedin, admin):
    urn = await linkedin.create_post(TEXT, idempotency_key="k")
    assert [p["id"] for p in (await admin.state("linkedin"))["posts"]] == [urn]

    await linkedin.delete_post(urn)
    await linkedin.delete_post(urn)  # already gone: 404, which counts as deleted

    assert (await admin.state("linkedin"))["posts"] == []
    [deleted] = await admin.effects("linkedin", "post.delete")
    assert deleted["summary"]["urn"] == urn


async def test_commentary_over_3000_characters_is_unprocessable(linkedin, admin):
    with pytest.raises(PlatformRejected) as caught:
        await linkedin.create_post("x" * 3001, idempotency_key="k")
    err = caught.value
    assert (err.status, err.code, err.retryable) == (422, "UNPROCESSABLE_ENTITY", False)
    assert "/commentary" in err.message
    assert await admin.effects("linkedin") == []


async def test_invalid_author_is_unprocessable(sandbox, admin):
    token = sandbox.tokens.linkedin_token.get_secret_value()
    async with LinkedInClient(sandbox.url, token, author_urn="urn:li:company:1") as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.create_post(TEXT, idempotency_key="k")
    assert (caught.value.status, caught.value.code) == (422, "UNPROCESSABLE_ENTITY")


@pytest.mark.parametrize(("token", "code"), [("wrong", "INVALID_ACCESS_TOKEN"), ("", "EMPTY_ACCESS_TOKEN")])
async def test_bad_token_is_rejected(sandbox, admin, token, code):
    async with LinkedInClient(sandbox.url, token, author_urn=sandbox.tokens.linkedin_author) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.create_post(TEXT, idempotency_key="k")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (401, code, False)


async def test_retired_version_is_426(sandbox, admin):
    token = sandbox.tokens.linkedin_token.get_secret_value()
    async with LinkedInClient(
        sandbox.url, token, author_urn=sandbox.tokens.linkedin_author, api_version="2024"
    ) as client:
        with pytest.raises(PlatformRejected) as caught:
            await client.create_post(TEXT, idempotency_key="k")
    assert (caught.value.status, caught.value.code) == (426, "NONEXISTENT_VERSION")


async def test_rate_limit_reads_retry_after(linkedin, admin):
    await admin.set_faults("linkedin", rate_limit_next=1, retry_after_s=2)
    with pytest.raises(RateLimited) as caught:
        await linkedin.create_post(TEXT, idempotency_key="k")
    assert (caught.value.code, caught.value.retry_after) == ("TOO_MANY_REQUESTS", 2.0)


async def test_server_error_is_retryable(linkedin, admin):
    await admin.set_faults("linkedin", fail_next=1, error_status=503)
    with pytest.raises(PlatformUnavailable) as caught:
        await linkedin.delete_post("urn:li:share:1")
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (503, "SERVICE_UNAVAILABLE", True)


async def test_requests_carry_version_headers_and_encoded_urn():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST":
            return httpx.Response(201, headers={"x-restli-id": "urn:li:ugcPost:42"})
        return httpx.Response(204)

    transport = httpx.MockTransport(handler)
    async with LinkedInClient(
        "https://api.linkedin.com", "t", author_urn="urn:li:person:abc", transport=transport
    ) as li:
        assert await li.create_post("hi", idempotency_key="k") == "urn:li:ugcPost:42"
        await li.delete_post("urn:li:ugcPost:42")
    create, delete = seen
    assert create.headers["linkedin-version"] == "202405" and create.headers["x-restli-protocol-version"] == "2.0.0"
    assert create.headers["authorization"] == "Bearer t"
    assert delete.url.raw_path == b"/rest/posts/urn%3Ali%3AugcPost%3A42"
    assert delete.headers["x-restli-method"] == "DELETE"
