"""Link checker: does each URL in a piece of content answer?

`HEAD` first (no body to download); servers that refuse `HEAD` (405, 501) get a `GET`
whose body is never read. Redirects are followed (at most 5); the final answer is
what counts: any 2xx or 3xx is ok, anything else (or no answer) is not. No auth, no
retries: a flaky link is reported as it was found, and the caller decides.

`LinkStatus.error` names what went wrong without a status: `timeout`,
`too_many_redirects`, `invalid_url`, or the transport error's type and text.
"""

from __future__ import annotations

import asyncio
from typing import Self

import httpx
from pydantic import BaseModel

from integrations.http import USER_AGENT

MAX_REDIRECTS = 5
_NO_HEAD = {405, 501}


class LinkStatus(BaseModel):
    url: str
    ok: bool
    status: int  # the final HTTP status; 0 when no answer arrived
    error: str | None = None
    final_url: str | None = None  # where the redirects ended, when an answer arrived


class LinkChecker:
    def __init__(self, *, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._http = httpx.AsyncClient(
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": f"{USER_AGENT} (link check)", "Accept": "*/*"},
        )

    async def check(self, url: str) -> LinkStatus:
        try:
            response = await self._http.head(url)
            if response.status_code in _NO_HEAD:
                async with self._http.stream("GET", url) as streamed:  # status only; the body is never read
                    response = streamed
        except httpx.TimeoutException:
            return LinkStatus(url=url, ok=False, status=0, error="timeout")
        except httpx.TooManyRedirects:
            return LinkStatus(url=url, ok=False, status=0, error="too_many_redirects")
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return LinkStatus(url=url, ok=False, status=0, error="invalid_url")
        except httpx.TransportError as exc:
            return LinkStatus(url=url, ok=False, status=0, error=f"{type(exc).__name__}: {exc}")
        status = response.status_code
        return LinkStatus(url=url, ok=200 <= status < 400, status=status, final_url=str(response.url))

    async def check_all(self, urls: list[str], concurrency: int = 8) -> list[LinkStatus]:
        """Check every URL (each distinct one once), at most `concurrency` at a time;
        one result per URL given, in the same order."""
        gate = asyncio.Semaphore(max(concurrency, 1))

        async def one(url: str) -> LinkStatus:
            async with gate:
                return await self.check(url)

        distinct = list(dict.fromkeys(urls))
        found = dict(zip(distinct, await asyncio.gather(*(one(url) for url in distinct)), strict=True))
        return [found[url] for url in urls]

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
