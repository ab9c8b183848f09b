"""Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note` envelopes.

    example.org/registry/audit        origin (also the signing key's name)
    1234                              tree size
    2cF1...Zw=                        root hash, standard base64
    timestamp 1767225600              extension line: when it was signed (Unix seconds)

    — example.org/registry/audit AbCd...==

Witnesses and auditors keep these notes; a later tree that is not consistent with one they
hold proves history was rewritten, even by someone who controls the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_HASH_SIZE = 32
_KEY_HASH_SIZE = 4
_SIGNATURE_SIZE = 64
_ALG_ED25519 = b"\x01"  # signed-note signature type
_SIG_PREFIX = "\u2014 "  # em dash and a space, per signed-note
_MAX_SIGNATURES = 100  # signed-note verifiers may cap this; bounds the work a hostile note causes
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")
_TIMESTAMP = re.compile(r"timestamp (0|[1-9][0-9]{0,19})")
_MAX_UINT64 = 2**64 - 1


class CheckpointError(ValueError):
    """A checkpoint or signed note is malformed, unsigned by the expected key, or altered."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    timestamp: int

    def __post_init__(self) -> None:
        _check_origin(self.origin)
        for value in (self.size, self.timestamp):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_UINT64:
                raise CheckpointError("size and timestamp must be integers in [0, 2^64)")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _HASH_SIZE:
            raise CheckpointError("root hash must be 32 bytes")

    def body(self) -> str:
        root = base64.b64encode(self.root_hash).decode("ascii")
        return f"{self.origin}\n{self.size}\n{root}\ntimestamp {self.timestamp}\n"


def sign_checkpoint(checkpoint: Checkpoint, *, sign: Callable[[bytes], bytes], public_key: Ed25519PublicKey) -> str:
    """The signed note: body, a blank line, one signature line named after the origin."""
    return sign_note(checkpoint.body(), name=checkpoint.origin, sign=sign, public_key=public_key)


def sign_note(text: str, *, name: str, sign: Callable[[bytes], bytes], public_key: Ed25519PublicKey) -> str:
    """A signed note of any text ending in a newline (a checkpoint, a submitted report)."""
    _check_origin(name)
    body = text.encode("utf-8")
    signature = sign(body)
    # A provider whose key does not match `public_key` would publish unverifiable notes.
    if not _verifies(public_key, signature, body):
        raise CheckpointError("signing key does not match the public key")
    line = base64.b64encode(_key_hash(name, public_key) + signature).decode("ascii")
    return f"{text}\n{_SIG_PREFIX}{name} {line}\n"


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The signed-note verifier key, `<name>+<key hash hex>+<base64(0x01 ‖ public key)>`: the
    form golang.org/x/mod/sumdb/note's `NewVerifier` and C2SP witnesses take, published so
    that whoever holds a checkpoint can check it without the service's key file."""
    _check_origin(name)
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    material = base64.b64encode(_ALG_ED25519 + raw).decode("ascii")
    return f"{name}+{_key_hash(name, public_key).hex()}+{material}"


def parse_signed_note(note: str, *, public_key: Ed25519PublicKey, origin: str) -> Checkpoint:
    """Verify `note` under (`origin`, `public_key`) and return its checkpoint.

    Signatures by other keys are ignored (witnesses may cosign); one by our key name and key
    hash must verify. Any failure is a CheckpointError.
    """
    checkpoint = _parse_body(open_note(note, public_key=public_key, name=origin))
    if checkpoint.origin != origin:
        raise CheckpointError("wrong origin")
    return checkpoint


def open_note(note: str, *, public_key: Ed25519PublicKey, name: str) -> str:
    """The text of `note` once a signature by (`name`, `public_key`) verifies over it."""
    origin = name
    _check_origin(origin)
    if not isinstance(note, str):
        raise CheckpointError("note must be text")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("note has no signature block")
    text, signature_block = note[: split + 1], note[split + 2 :]
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointError("note text has control characters")
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError:
        raise CheckpointError("note text is not valid UTF-8") from None
    if not signature_block.endswith("\n"):
        raise CheckpointError("signature block must end with a newline")
    lines = signature_block[:-1].split("\n")
    if len(lines) > _MAX_SIGNATURES:
        raise CheckpointError("too many signatures")

    key_hash = _key_hash(origin, public_key)
    signed = False
    for line in lines:
        name, key_id, signature = _parse_signature_line(line)
        if name != origin or key_id != key_hash:
            continue
        if len(signature) != _SIGNATURE_SIZE or not _verifies(public_key, signature, message):
            raise CheckpointError("bad signature")
        signed = True
    if not signed:
        raise CheckpointError("no signature by the expected key")
    return text


def _key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """SHA-256(name ‖ "\\n" ‖ 0x01 ‖ public key)[:4], as `crypto.providers.base.signed_note_key_hash`.

    Restated here because the import-linter layers keep `audit` and `crypto` independent;
    tests pin the two (and Go's reference key) to the same value.
    """
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ALG_ED25519 + raw).digest()[:4]


def _verifies(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public_key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise CheckpointError("malformed signature line")
    name, sep, encoded = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep or not _is_key_name(name):
        raise CheckpointError("malformed signature line")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("malformed signature line") from None
    if len(raw) < _KEY_HASH_SIZE + 1:
        raise CheckpointError("malformed signature line")
    return name, raw[:_KEY_HASH_SIZE], raw[_KEY_HASH_SIZE:]


def _parse_body(text: str) -> Checkpoint:
    # Exactly our four lines: an unknown extension line would be signed data we ignore.
    lines = text.split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise CheckpointError("checkpoint must have origin, size, root and timestamp lines")
    origin, size, root, stamp = lines[:4]
    if not _DECIMAL.fullmatch(size):
        raise CheckpointError("malformed tree size")
    try:
        root_hash = base64.b64decode(root, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError("malformed root hash") from None
    if base64.b64encode(root_hash).decode("ascii") != root:
        raise CheckpointError("malformed root hash")
    match = _TIMESTAMP.fullmatch(stamp)
    if match is None:
        raise CheckpointError("malformed timestamp line")
    return Checkpoint(origin=origin, size=int(size), root_hash=root_hash, timestamp=int(match.group(1)))


def _is_key_name(name: str) -> bool:
    # signed-note key names: non-empty, no Unicode spaces, no "+" (it separates vkey fields).
    return bool(name) and all(c != "+" and not c.isspace() and c.isprintable() for c in name)


def _check_origin(origin: str) -> None:
    if not isinstance(origin, str) or not _is_key_name(origin):
        raise CheckpointError("origin must be non-empty, without spaces, '+' or control characters")
