"""`mops codec-server`: the remote codec the Temporal Web UI and CLI decode payloads with.

    POST /decode   {"payloads": [{"metadata": {...base64}, "data": "...base64"}]}  -> same shape, decrypted
    POST /encode   the other way (newest master key: the server does not know the workflow)

Protocol as Temporal's (the `temporal` CLI's `--codec-endpoint`, the Web UI's codec
endpoint): payloads as protobuf JSON, `X-Namespace` header.

Who may ask
- A bearer token (`MOPS_CODEC_SERVER_TOKEN`) on every request: `Authorization: Bearer
  <token>` (the CLI: `--codec-auth "Bearer <token>"`), or, for the dev server's Web UI,
  which cannot add headers without single sign-on, in the endpoint path:
  `http://127.0.0.1:8888/t/<token>` (what `mops up` passes as `--ui-codec-endpoint`).
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
import hmac
import logging
import re

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
_PATH = re.compile(r"^(?:/t/(?P<token>[^/]+))?/(?P<op>encode|decode)$")
ALLOWED_HEADERS = "authorization, content-type, x-namespace"


def create_codec_app(settings: Settings, codec: EncryptionCodec | None = None) -> Starlette:
    codec = codec or EncryptionCodec(lambda: shared_keyring(settings))
    token = settings.codec_server_token.get_secret_value().encode()
    origins = set(settings.codec_ui_origins)

    def refuse(status: int, code: str, message: str, origin: str | None = None) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="mops-codec"'} if status == 401 else {}
        headers.update(cors(origin))
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)

    def cors(origin: str | None) -> dict[str, str]:
        if origin is None or origin not in origins:
            return {}
        return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}

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
        presented = match.group("token")
        if presented is None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            presented = value.strip() if scheme.lower() == "bearer" else None
        if not presented:
            return refuse(401, "missing_token", "authorization: a bearer token is required", origin)
        if not hmac.compare_digest(presented.encode(), token):
            return refuse(401, "invalid_token", "authorization: the token is not valid", origin)
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
    """What the dev server's Web UI is given as its codec endpoint (token in the path)."""
    return (
        f"http://{settings.codec_server_host}:{settings.codec_server_port}"
        f"/t/{settings.codec_server_token.get_secret_value()}"
    )


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
