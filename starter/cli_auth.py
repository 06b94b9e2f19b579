"""Platform credentials (README "Platform credentials").

    mops auth set PLATFORM [--account ID]   store a refresh token (read from stdin), encrypted
    mops auth status [--json]               each platform's mode and its tokens' expiry, never a token

PLATFORM is google_ads, ga4, linkedin or meta (for Meta, the user token to exchange). The
token is read from standard input (a hidden prompt on a terminal), never an argument, so it
stays out of shell history and process lists. Bad input is one line and exit code 2.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from integrations.oauth import OAUTH_PLATFORMS
from mops.oauth_store import Grant
from starter.cli_common import JsonOpt, emit, fail, out, settings
from workers.credentials import account_of, token_store

auth_app = typer.Typer(help="Platform credentials: OAuth refresh tokens, stored encrypted.", no_args_is_help=True)


def _platform(value: str) -> str:
    if value not in OAUTH_PLATFORMS:
        fail(f"platform: one of {', '.join(OAUTH_PLATFORMS)} (got {value!r})")
    return value


def _when(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch is not None else None


@auth_app.command("set")
def set_grant(
    platform: Annotated[str, typer.Argument(help=", ".join(OAUTH_PLATFORMS))],
    account: Annotated[str | None, typer.Option("--account", help="Default: the account settings name.")] = None,
) -> None:
    """Store PLATFORM's refresh token, read from stdin; its next call refreshes the access token."""
    platform = _platform(platform)
    s = settings()
    account = account or account_of(s, platform)
    tty = sys.stdin.isatty()
    token = (typer.prompt(f"{platform} refresh token", hide_input=True) if tty else sys.stdin.readline()).strip()
    if not token:
        fail("refresh token: empty (give it on standard input)")
    token_store(s).put(platform, account, Grant(token))
    mode = getattr(s, f"{platform}_auth")
    note = "" if mode == "oauth" else f" (MOPS_{platform.upper()}_AUTH is {mode}: set it to oauth to use it)"
    out.print(f"stored the {platform} grant for account {account}, encrypted in {s.oauth_store_file}{note}")


@auth_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Each OAuth platform's mode, and for stored grants when their tokens expire."""
    s = settings()
    stored = {(g.platform, g.account): g for g in token_store(s).statuses()}
    rows = []
    for platform in OAUTH_PLATFORMS:
        account = account_of(s, platform)
        g = stored.pop((platform, account), None)
        rows.append(_row(platform, account, getattr(s, f"{platform}_auth"), g))
    rows += [_row(p, a, "not configured", g) for (p, a), g in stored.items()]  # grants of other accounts

    def human() -> None:
        table = Table("platform", "account", "mode", "access token expires", "refresh token expires", "refreshed")
        for r in rows:
            table.add_row(
                r["platform"],
                r["account"],
                r["mode"],
                r["access_expires_at"] or ("-" if r["stored"] else "no grant stored"),
                r["refresh_expires_at"] or "-",
                f"{r['refreshed_at'] or 'never'} ({r['refreshes']}x)",
            )
        out.print(table)

    emit(rows, as_json, human)


def _row(platform: str, account: str, mode: str, g) -> dict:
    return {
        "platform": platform,
        "account": account,
        "mode": mode,
        "stored": g is not None,
        "access_expires_at": _when(g.access_expires_at) if g else None,
        "refresh_expires_at": _when(g.refresh_expires_at) if g else None,
        "refreshed_at": g.refreshed_at if g else None,
        "refreshes": g.refreshes if g else 0,
    }
