"""Master keys of the payload codec as `MOPS_CODEC_KEYS` holds them: `id:base64(32 bytes)`,
comma-separated, newest first.

Apart from `mops.codec` because settings check the variable at start: settings need the
parser, and the codec needs the settings.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import time

KEY_BYTES = 32


class CodecKeyError(ValueError):
    """Master keys that cannot be used (the message names the problem, never a key)."""


def parse_master_keys(text: str) -> dict[str, bytes]:
    """`id:base64(32 bytes)[,id:base64...]`, newest first -> {id: key} in that order."""
    keys: dict[str, bytes] = {}
    for i, item in enumerate(p.strip() for p in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not key_id.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise CodecKeyError(f"entry {i}: expected <id>:<base64 key> with a simple id (letters, digits, -_.)")
        if key_id in keys:
            raise CodecKeyError(f"entry {i}: duplicate key id {key_id!r}")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise CodecKeyError(f"entry {i} ({key_id}): the key is not valid base64") from None
        if len(raw) != KEY_BYTES:
            raise CodecKeyError(f"entry {i} ({key_id}): the key must be {KEY_BYTES} bytes (AES-256), got {len(raw)}")
        keys[key_id] = raw
    if not keys:
        raise CodecKeyError("at least one key is needed")
    return keys


def new_master_key(key_id: str | None = None) -> str:
    """A fresh `id:base64` entry for MOPS_CODEC_KEYS."""
    key_id = key_id or "k" + time.strftime("%Y%m%d", time.gmtime()) + "-" + secrets.token_hex(2)
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


__all__ = ["CodecKeyError", "KEY_BYTES", "parse_master_keys", "new_master_key"]
