"""LinkedIn Posts API client (`/rest/posts`): publish and delete text posts (OAuth bearer).

Every call carries `LinkedIn-Version` (YYYYMM; LinkedIn retires a version about a
year after release and then answers 426 `NONEXISTENT_VERSION`) and
`X-Restli-Protocol-Version: 2.0.0`.

Commentary is LinkedIn's "little" text format, where `\\ | { } @ [ ] ( ) < > # * _ ~`
are markup: unescaped, LinkedIn silently cuts the post at the first one.
`create_post` takes plain text and escapes it, leaving URLs and `#hashtags` as they
are (so they still link). The 3,000-character limit applies to the escaped text.

Idempotency: LinkedIn has none (no key, and posts carry no metadata). What tells a post
apart is its commentary, which the workflows make unique per piece (it carries the
piece's link): `post_with_commentary` pages through the author's posts, newest first
(the finder `q=author`, sorted by `LAST_MODIFIED`), back to `since`, for one with the
exact commentary `create_post` would send, so a retry can answer with the earlier post
instead of posting again (`activities/post_once.py`). The finder needs the token's
`r_organization_social` (organization author) or `r_member_social` (person) scope.
Deleting a post that is already gone counts as success, so a retract can be retried.

Error `code` is LinkedIn's `code` (`INVALID_ACCESS_TOKEN`, `UNPROCESSABLE_ENTITY`,
`NONEXISTENT_VERSION`, `TOO_MANY_REQUESTS`, ...), or `HTTP_<status>` without one.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from domain.lead_ads import LeadAdSubmission
from integrations.errors import PlatformError, PlatformRejected
from integrations.http import PlatformClient, TokenSource, error_for_status, json_body, retry_after_header

LINKEDIN_VERSION = "202405"
MAX_COMMENTARY = 3000
FINDER_PAGE = 100  # the most LinkedIn's post finder answers at once
_FORM_URN = re.compile(r"urn:li:leadGenForm:(\d+)")

_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
# Left unescaped: URLs (so they auto-link) and hashtags at a word start (so they stay clickable).
_KEEP = re.compile(r"https?://[^\s()<>\[\]{}|\\]*[^\s()<>\[\]{}|\\.,;:!?'\"]|(?<![\w#])#\w+")


def escape_little_text(text: str) -> str:
    """Plain text → LinkedIn "little" text: backslash-escape the reserved characters."""
    out, last = [], 0
    for match in _KEEP.finditer(text):
        out.append(_RESERVED.sub(r"\\\1", text[last : match.start()]))
        out.append(match.group(0))
        last = match.end()
    out.append(_RESERVED.sub(r"\\\1", text[last:]))
    return "".join(out)


class LinkedInClient(PlatformClient):
    platform = "linkedin"

    def __init__(
        self,
        base_url: str,
        token: str | TokenSource,
        *,
        author_urn: str,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        api_version: str = LINKEDIN_VERSION,
    ) -> None:
        """`author_urn` is who posts: `urn:li:organization:<id>` or `urn:li:person:<id>`."""
        super().__init__(base_url, token, timeout=timeout, transport=transport)
        self.author_urn = author_urn
        self._http.headers.update({"LinkedIn-Version": api_version, "X-Restli-Protocol-Version": "2.0.0"})
        self._forms: dict[str, dict[str, Any]] = {}

    async def create_post(self, commentary: str, *, idempotency_key: str) -> str:
        """Publish a public text post to the main feed; return its URN (`x-restli-id`).
        The key goes out as an `Idempotency-Key` header only to label the request: LinkedIn
        (and the sandbox) ignore it, so a repeated call is a second post."""
        payload = {
            "author": self.author_urn,
            "commentary": escape_little_text(commentary),
            "visibility": "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        response = await self._request(
            "POST", "/rest/posts", json=payload, headers={"Idempotency-Key": idempotency_key}
        )
        urn = response.headers.get("x-restli-id")
        if not urn:
            raise PlatformRejected(self.platform, response.status_code, "MISSING_ID", "no x-restli-id in the answer")
        return urn

    async def post_with_commentary(self, commentary: str, *, since: datetime) -> str | None:
        """The URN of the author's post last modified no earlier than `since` whose
        commentary is exactly what `create_post(commentary)` sends, or None."""
        wanted = escape_little_text(commentary)
        since_ms = since.timestamp() * 1000
        start = 0
        while True:
            params = {
                "q": "author",
                "author": self.author_urn,
                "sortBy": "LAST_MODIFIED",
                "count": FINDER_PAGE,
                "start": start,
            }
            response = await self._request("GET", "/rest/posts", params=params, headers={"X-RestLi-Method": "FINDER"})
            body = json_body(response)
            elements = body.get("elements") if isinstance(body, dict) else None
            if not isinstance(elements, list):
                raise PlatformRejected(
                    self.platform, response.status_code, "BAD_RESPONSE", "the finder sent no elements"
                )
            for post in elements:
                if int(post.get("lastModifiedAt") or 0) < since_ms:
                    return None  # newest first: everything further is older still
                if post.get("commentary") == wanted:
                    return str(post["id"])
            if len(elements) < FINDER_PAGE:
                return None
            start += len(elements)

    async def delete_post(self, post_urn: str) -> None:
        """Delete the post; one that is already gone (404) counts as deleted."""
        try:
            await self._request(
                "DELETE", f"/rest/posts/{quote(post_urn, safe='')}", headers={"X-RestLi-Method": "DELETE"}
            )
        except PlatformRejected as err:
            if err.status != 404:
                raise

    async def probe(self) -> None:
        """A cheap authenticated read for health checks: a post that does not exist
        answers 404 once the token and version are accepted."""
        try:
            await self._request("GET", f"/rest/posts/{quote('urn:li:share:0', safe='')}")
        except PlatformRejected as err:
            if err.status != 404:
                raise

    # lead sync

    async def lead_response(self, response_id: str) -> LeadAdSubmission:
        """One member's Lead Gen form response, its answers keyed by the form's question names
        (the token needs `r_marketing_leadgen_automation`)."""
        body = (await self._request("GET", f"/rest/leadFormResponses/{quote(response_id, safe='')}")).json()
        match = _FORM_URN.search(str(body.get("versionedLeadGenFormUrn") or ""))
        if match is None:
            raise PlatformRejected(self.platform, 200, "BAD_RESPONSE", "the response names no lead form")
        form = await self.lead_form(match.group(1))
        questions = {q["questionId"]: q["name"] for q in form["content"].get("questions", [])}
        consents = {c["consentId"]: c["name"] for c in form["content"].get("consents", [])}
        answered = body.get("formResponse") or {}
        answers: dict[str, list[str]] = {}
        for a in answered.get("answers") or []:
            text = ((a.get("answerDetails") or {}).get("textQuestionAnswer") or {}).get("answer")
            if a.get("questionId") in questions and text is not None:
                answers.setdefault(questions[a["questionId"]], []).append(str(text))
        creative = (body.get("associatedEntity") or {}).get("sponsoredCreative")
        return LeadAdSubmission(
            platform="linkedin",
            lead_id=str(body["id"]),
            form_id=match.group(1),
            submitted_at=datetime.fromtimestamp(int(body["submittedAt"]) / 1000, UTC),
            answers=answers,
            checkboxes={
                consents[c["consentId"]]: bool(c.get("accepted"))
                for c in answered.get("consentResponses") or []
                if c.get("consentId") in consents
            },
            ad_id=str(creative).rsplit(":", 1)[-1] if creative else None,
            organic=body.get("leadType") != "SPONSORED",
        )

    async def lead_form(self, form_id: str) -> dict[str, Any]:
        """A Lead Gen form with its questions and consents (kept: a form version does not change)."""
        if form_id not in self._forms:
            self._forms[form_id] = (await self._request("GET", f"/rest/leadForms/{quote(form_id, safe='')}")).json()
        return self._forms[form_id]

    def _error(self, response: httpx.Response) -> PlatformError:
        """Read LinkedIn's `{"status", "serviceErrorCode", "code", "message"}` body."""
        status = response.status_code
        body = json_body(response)
        body = body if isinstance(body, dict) else {}
        code = str(body.get("code") or f"HTTP_{status}")
        message = str(body.get("message") or response.reason_phrase or "error")
        return error_for_status(self.platform, status, code, message, retry_after_header(response.headers))
