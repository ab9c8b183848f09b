"""Sealing personal fields for storage: the write half of field-level encryption.

The AAD binds each ciphertext to its table, column, record and key version, so a value
copied to another row or column fails to open.
"""

from __future__ import annotations

from registry.crypto.ciphertext import Aad, DataKey, encrypt


def seal(key: DataKey, value: str, *, table: str, column: str, record_id: str) -> bytes:
    return encrypt(key, value.encode("utf-8"), aad=Aad(table, column, record_id, key.version))


def seal_optional(key: DataKey, value: str | None, *, table: str, column: str, record_id: str) -> bytes | None:
    return None if value is None else seal(key, value, table=table, column=column, record_id=record_id)
