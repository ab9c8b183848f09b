"""Opaque list cursors and the `If-Match`/`ETag` convention."""

from __future__ import annotations

import base64
import binascii
import uuid

from registry.errors import BadRequest, PreconditionRequired

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor is not valid") from None


def decode_uuid_cursor(cursor: str | None) -> str | None:
    """A cursor that carries the last id seen (lists ordered by id)."""
    after = decode_cursor(cursor)
    if after is not None:
        try:
            uuid.UUID(after)
        except ValueError:
            raise BadRequest("cursor is not valid") from None
    return after


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(header: str | None) -> int:
    if header is None:
        raise PreconditionRequired("If-Match is required on an update; send the ETag you read")
    value = header.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionRequired("If-Match must be an ETag returned by this service")
    return int(value)
