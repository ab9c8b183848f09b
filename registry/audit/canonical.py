"""The bytes an audit entry contributes to the Merkle tree.

Canonical JSON (sorted keys, no spaces, UTF-8, times as RFC 3339 UTC with microseconds)
of every column, including the entry id, so editing any field of a sequenced entry, or
swapping two entries, changes its leaf hash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from registry.audit.merkle import leaf_hash
from registry.audit.models import AuditEntry

FORMAT = 1


# Columns added after entries were first hashed: left out while null, so an entry written
# before the column existed keeps its bytes and its leaf hash.
_OMITTED_WHEN_NULL = ("client_request_id",)


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """From a row's column values (an entry's `model_dump()` or a Core result mapping)."""
    canonical = dict(record)
    for name in _OMITTED_WHEN_NULL:
        if canonical.get(name, 0) is None:
            del canonical[name]
    canonical["at"] = record["at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical["format"] = FORMAT
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_bytes(entry: AuditEntry) -> bytes:
    return record_bytes(entry.model_dump())


def entry_leaf_hash(entry: AuditEntry) -> bytes:
    return leaf_hash(entry_bytes(entry))


ENTRY_COLUMNS = tuple(AuditEntry.__table__.columns)  # type: ignore[attr-defined]
