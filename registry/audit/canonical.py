"""The bytes an audit entry contributes to the Merkle tree.

Canonical JSON (sorted keys, no spaces, UTF-8, times as RFC 3339 UTC with microseconds)
of every column, including the entry id, so editing any field of a sequenced entry, or
swapping two entries, changes its leaf hash.
"""

from __future__ import annotations

import json
from datetime import UTC

from registry.audit.merkle import leaf_hash
from registry.audit.models import AuditEntry

FORMAT = 1


def entry_bytes(entry: AuditEntry) -> bytes:
    record = entry.model_dump()
    record["at"] = entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    record["format"] = FORMAT
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_leaf_hash(entry: AuditEntry) -> bytes:
    return leaf_hash(entry_bytes(entry))
