"""`mops codec-server`: the remote codec the Temporal Web UI and CLI decode payloads with.

    POST /decode   {"payloads": [{"metadata": {...base64}, "data": "...base64"}]}  -> same shape, decrypted
    POST /encode   the other way (newest master key: the server does not know the workflow)

Protocol as Temporal's (the `temporal` CLI's `--codec-endpoint`, the Web UI's codec
endpoint): payloads as protobuf JSON, `X-Namespace` header.

Who may ask (no secret ever goes to the Web UI: the endpoint it is given, and hands to any
visitor in `GET /api/v1/settings`, is a bare URL)
- Callers that are not browsers (the `temporal` CLI, scripts): a bearer token
  (`MOPS_CODEC_SERVER_TOKEN`) on every request, `Authorization: Bearer <token>` (the CLI:
  `--codec-endpoint ... --codec-auth "Bearer <token>"`).
- The Web UI in a browser, while the codec server listens on loopback only (`mops up`, the
  default 127.0.0.1): a request whose `Origin` is the configured UI origin and whose `Host`
  is a loopback name. A browser sets `Origin` itself and no page script can change it, so
  a page from any other site is refused, and the `Host` check refuses a DNS-rebinding page
  that reached the loopback port under a name of its own. What this does not stop: another
  program on the same machine can send any header it likes; on a machine shared with people
  who must not read payloads, keep the token and use the CLI, or the next way.
- The Web UI in a browser, when the codec server listens on a network address (a
  deployment): the UI forwards its signed-in user's access token (Temporal UI
  `codec.passAccessToken: true`, with its OIDC sign-in) and the codec server accepts it
  when the identity provider's userinfo endpoint (`MOPS_CODEC_SERVER_OIDC_USERINFO_URL`)
  does; answers are cached for `MOPS_CODEC_SERVER_OIDC_CACHE_SECONDS`. A network listener
  without that URL is refused at start: its browsers would have no way in but the token,
  which would put it back in the UI's settings.
- Browsers only from the configured UI origin(s): a request with any other `Origin` is
  refused (403), preflights included; CORS headers go only to the UI origin.
- Everything else is refused: no token or a wrong one 401, other paths 404, other
  methods 405, bodies over 4 MiB 413, malformed bodies 400.

A payload whose key was destroyed (an erased lead) or that is not ours comes back as it
was: the UI shows it still encrypted.

Why in mops/: it is a process of its own (`mops codec-server`, `python -m mops.codec_server`,
started by `mops up` for the Web UI), but all it is is `mops.codec` spoken over HTTP: it
needs the codec and the settings and nothing else of mops, and it stays a few lines away
from the code whose format it serves. Not in the gateway: other callers (the Temporal UI
and CLI), another credential, another port; not in starter/, which is the command line.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import logging
import re
import time

import httpx
from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from mops.codec import EncryptionCodec, KeyUnavailable, shared_keyring
from mops.settings import Settings

log = logging.getLogger("mops.codec_server")

MAX_BODY = 4 * 1024 * 1024
_PATH = re.compile(r"^/(?P<op>encode|decode)$")
ALLOWED_HEADERS = "authorization, content-type, x-namespace"


class CodecServerConfigError(ValueError):
    """A codec server configuration that would leave the Web UI no way in but a secret."""


def is_loopback(host: str) -> bool:
    """True for a name or address that only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(header: str) -> str:
    """The name in a Host header, without its port (`[::1]:8888` -> `::1`)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_listener(settings: Settings) -> None:
    """Refuse a network listener whose browsers would need the token (see the module's docstring)."""
    if not is_loopback(settings.codec_server_host) and not settings.codec_server_oidc_userinfo_url:
        raise CodecServerConfigError(
            f"codec_server_host: {settings.codec_server_host} is not a loopback address, and the Web UI's "
            "browsers then need MOPS_CODEC_SERVER_OIDC_USERINFO_URL (the UI forwards its users' access "
            "tokens, codec.passAccessToken); set it, or listen on 127.0.0.1"
        )


class UserinfoCheck:
    """Whether the identity provider accepts an access token the Web UI forwarded, by asking its
    OIDC userinfo endpoint; answers (yes and no) are cached for a short while, by the token's hash."""

    def __init__(self, url: str, cache_seconds: float, http: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self._http = http or httpx.AsyncClient(timeout=5)
        self._answers: dict[str, tuple[float, bool]] = {}

    async def accepts(self, token: str) -> bool:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = self._answers.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        r = await self._http.get(self.url, headers={"Authorization": f"Bearer {token}"})
        if r.status_code not in (200, 401, 403):
            raise httpx.HTTPStatusError(f"userinfo answered {r.status_code}", request=r.request, response=r)
        accepted = r.status_code == 200
        if len(self._answers) > 10_000:  # a flood of made-up tokens must not grow the process
            self._answers.clear()
        self._answers[key] = (now + self.cache_seconds, accepted)
        return accepted


def create_codec_app(
    settings: Settings, codec: EncryptionCodec | None = None, *, userinfo: UserinfoCheck | None = None
) -> Starlette:
    check_listener(settings)
    codec = codec or EncryptionCodec(lambda: shared_keyring(settings))
    token = settings.codec_server_token.get_secret_value().encode()
    origins = set(settings.codec_ui_origins)
    loopback_listener = is_loopback(settings.codec_server_host)
    oidc_url = settings.codec_server_oidc_userinfo_url
    if userinfo is None and oidc_url:
        userinfo = UserinfoCheck(oidc_url, settings.codec_server_oidc_cache_seconds)

    def refuse(status: int, code: str, message: str, origin: str | None = None) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="mops-codec"'} if status == 401 else {}
        headers.update(cors(origin))
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)

    def cors(origin: str | None) -> dict[str, str]:
        if origin is None or origin not in origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}

    async def admit(request: Request, origin: str | None) -> JSONResponse | None:
        """None when the caller may have payloads decoded, else the refusal."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        bearer = value.strip() if scheme.lower() == "bearer" else ""
        if bearer and hmac.compare_digest(bearer.encode(), token):
            return None
        if origin is not None:  # a browser on the Web UI's page (the origin was checked before)
            if loopback_listener and is_loopback(_host_name(request.headers.get("host", ""))):
                return None
            if bearer and userinfo is not None:
                try:
                    if await userinfo.accepts(bearer):
                        return None
                except httpx.HTTPError as err:
                    log.warning("the identity provider's userinfo could not be asked: %s", err)
                    unavailable = "authorization: the identity provider did not answer"
                    return refuse(503, "identity_unavailable", unavailable, origin)
                return refuse(401, "invalid_token", "authorization: the identity provider refused the token", origin)
        if not bearer:
            return refuse(401, "missing_token", "authorization: a bearer token is required", origin)
        return refuse(401, "invalid_token", "authorization: the token is not valid", origin)

    async def handle(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") not in origins:
            return refuse(403, "origin_not_allowed", "origin: not the configured Temporal UI")
        match = _PATH.fullmatch(request.url.path)
        if match is None:
            return refuse(404, "not_found", "only /encode and /decode are served", origin)
        if request.method == "OPTIONS":  # CORS preflight (browsers send no credentials on it)
            if origin is None:
                return refuse(403, "origin_not_allowed", "preflight without an origin")
            return Response(
                status_code=204,
                headers={
                    **cors(origin),
                    "Access-Control-Allow-Methods": "POST",
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": "600",
                },
            )
        if request.method != "POST":
            return refuse(405, "method_not_allowed", "use POST", origin)
        refused = await admit(request, origin)
        if refused is not None:
            return refused
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return refuse(413, "too_large", f"body: at most {MAX_BODY} bytes", origin)
        body = await request.body()
        if len(body) > MAX_BODY:
            return refuse(413, "too_large", f"body: at most {MAX_BODY} bytes", origin)
        try:
            payloads = json_format.Parse(body or b"{}", Payloads(), ignore_unknown_fields=True)
        except json_format.ParseError:
            return refuse(400, "invalid_body", 'body: expected {"payloads": [...]} as protobuf JSON', origin)
        if match.group("op") == "encode":
            out = await codec.encode(list(payloads.payloads))
        else:
            out = []
            for payload in payloads.payloads:
                try:
                    out.extend(await codec.decode([payload]))
                except KeyUnavailable:
                    out.append(payload)  # an erased lead's payload stays encrypted for good
        text = json_format.MessageToJson(Payloads(payloads=out))
        return Response(text, media_type="application/json", headers=cors(origin))

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", handle, methods=methods)])
    return app


def codec_ui_endpoint(settings: Settings) -> str:
    """What the Web UI is given as its codec endpoint: the bare URL, no secret in it."""
    return f"http://{settings.codec_server_host}:{settings.codec_server_port}"


def serve(settings: Settings) -> None:
    import uvicorn

    app = create_codec_app(settings)
    log.info("mops codec server on http://%s:%d", settings.codec_server_host, settings.codec_server_port)
    uvicorn.run(
        app, host=settings.codec_server_host, port=settings.codec_server_port, log_level="warning", access_log=False
    )


def main(argv: list[str] | None = None) -> None:
    from mops.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m mops.codec_server")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    settings = get_settings()
    updates = {k: v for k, v in (("codec_server_host", args.host), ("codec_server_port", args.port)) if v}
    serve(settings.model_copy(update=updates))


if __name__ == "__main__":
    main()
