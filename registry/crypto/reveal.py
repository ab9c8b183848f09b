"""Opening sealed fields: the read half, imported only by `registry.disclosure`
(an import-linter contract), so every plaintext passes authorize → audit first."""

from __future__ import annotations

from sqlmodel import Session

from registry.crypto.ciphertext import Aad, DecryptionError, decrypt, header_key_version
from registry.crypto.keyring import Compartment, Keyring
from registry.errors import IntegrityFailure


def open_sealed(
    session: Session,
    keyring: Keyring,
    blob: bytes,
    *,
    owner: str,
    compartment: Compartment,
    table: str,
    column: str,
    record_id: str,
) -> str:
    """Plaintext of one field; `KeyErased` (410) if shredded, `IntegrityFailure` if altered."""
    try:
        version = header_key_version(blob)
        key = keyring.read_key(session, owner=owner, compartment=compartment, version=version)
        return decrypt(key, blob, aad=Aad(table, column, record_id, version)).decode("utf-8")
    except DecryptionError:
        failure = IntegrityFailure("a stored value failed its integrity check; nothing was disclosed")
        failure.targets = (record_id, f"{table}.{column}")
        raise failure from None
