"""`python -m gateway` (or `mops gateway`) serves the gateway; `... keygen` mints an API key.

    mops gateway keygen --id web --scopes ingest,read
    mops gateway keygen --id omar-approvals --scopes approve,read --approver omar

keygen prints the raw key once (give it to the caller) and saves its entry (only the key's
SHA-256) in the key file, `<data_dir>/gateway-keys.json`, which a running gateway reads
again when it changes: the key works at once. Minting an id again replaces its key.
`--no-save` prints the entry for the `MOPS_GATEWAY_KEYS` JSON list instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys

from pydantic import ValidationError

from gateway.security import ApiKeyConfig, KeyFileError, Scope, hash_key, new_key, save_key
from mops.settings import SettingsError


def keygen(args: argparse.Namespace) -> int:
    try:
        scopes = [Scope(s.strip()) for s in args.scopes.split(",") if s.strip()]
    except ValueError:
        print(f"--scopes: use a comma-separated list of {', '.join(s.value for s in Scope)}", file=sys.stderr)
        return 2
    raw = new_key()
    try:
        entry = ApiKeyConfig(id=args.id, sha256=hash_key(raw), scopes=scopes, approver=args.approver)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "approver"
        print(f"--{field}: {first['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    saved_to, replaced = None, False
    if args.save:
        from gateway.settings import gateway_settings

        try:
            path = gateway_settings().gateway_keys_path
            if any(k.id == entry.id for k in gateway_settings().gateway_keys):
                print(f"--id: key {entry.id!r} is configured in MOPS_GATEWAY_KEYS; rotate it there", file=sys.stderr)
                return 2
            replaced = save_key(path, entry)
        except (SettingsError, KeyFileError, OSError) as err:
            print(str(err), file=sys.stderr)
            return 2
        saved_to = str(path)
    if args.key_only:
        print(raw)
    elif args.json:
        print(json.dumps({"key": raw, "entry": entry.model_dump(mode="json"), "saved_to": saved_to}))
    else:
        print(f"API key (shown once, store it now): {raw}")
        if saved_to:
            what = "replaced the previous key" if replaced else "saved"
            print(f"Key {entry.id!r} {what} in {saved_to}; a running gateway accepts it at once.")
        else:
            print("Add this entry to the MOPS_GATEWAY_KEYS JSON list:")
            print(json.dumps(entry.model_dump(mode="json")))
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m gateway") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="mops HTTP gateway (REST /v1, GraphQL, webhooks)")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the gateway (the default)")
    kg = sub.add_parser("keygen", help="mint an API key: print the raw key once and its settings entry")
    kg.add_argument("--id", required=True, help="key id (shows up in logs and rate limits)")
    kg.add_argument("--scopes", required=True, help="comma-separated: ingest, read, approve, admin")
    kg.add_argument("--approver", default=None, help="person id an approve-scope key acts as")
    kg.add_argument("--json", action="store_true", help="machine-readable output")
    kg.add_argument("--key-only", action="store_true", help="print only the raw key (for KEY=$(...) in scripts)")
    kg.add_argument(
        "--no-save",
        dest="save",
        action="store_false",
        help="do not save the entry in the key file; print it for MOPS_GATEWAY_KEYS instead",
    )
    args = parser.parse_args(argv)
    if args.command == "keygen":
        return keygen(args)

    from gateway.server import serve
    from gateway.settings import gateway_settings
    from mops.database import DatabaseUnavailable, upgrade

    try:
        settings = gateway_settings()
        if settings.database_url is not None:  # the shared state's schema, made current before serving
            upgrade(settings.database_url.get_secret_value())
        serving = serve(settings)  # picks the event loop: refuses one that is not installed
    except (SettingsError, DatabaseUnavailable) as err:
        print(err, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serving)
    except (RuntimeError, OSError, ValueError) as err:  # Temporal unreachable, port taken, bad key
        print(f"gateway: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
