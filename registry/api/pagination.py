"""Opaque list cursors and the `If-Match`/`ETag` convention."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

from registry.errors import BadRequest, PreconditionRequired

T = TypeVar("T")

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


def page_by_key(
    items: Sequence[T], key: Callable[[T], str], cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """A page of a list computed whole (alerts, a queue): ordered by `key`, the cursor the
    last key seen, so a page is stable while items are added (API.md's paged shape)."""
    after = decode_cursor(cursor)
    rest = sorted((i for i in items if after is None or key(i) > after), key=key)
    page = rest[:limit]
    return page, encode_cursor(key(page[-1])) if len(rest) > limit else None


def etag(version: int) -> str:
    return f'"{version}"'


# What `If-Match` may hold: an ETag of `etag` (weak or not; quotes optional), ASCII digits.
IF_MATCH_PATTERN = r'^(W/)?"?(?P<version>[0-9]{1,18})"?$'


def parse_if_match(header: str | None) -> int:
    if header is None:
        raise PreconditionRequired("If-Match is required on an update; send the ETag you read")
    match = re.fullmatch(IF_MATCH_PATTERN, header.strip())
    if match is None:
        raise PreconditionRequired("If-Match must be an ETag returned by this service")
    return int(match["version"])
