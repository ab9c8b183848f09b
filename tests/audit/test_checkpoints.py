from __future__ import annotations

import base64
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.audit.checkpoints import Checkpoint, CheckpointError, parse_signed_note, sign_checkpoint
from registry.audit.merkle import EMPTY_ROOT, leaf_hash, root_from_leaf_hashes
from registry.crypto.providers.base import signed_note_key_hash

ORIGIN = "registry.example.org/audit"
ROOT = root_from_leaf_hashes([leaf_hash(b"entry %d" % i) for i in range(5)])

# The signed note of golang.org/x/mod/sumdb/note's documentation, signed by Go's implementation.
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def checkpoint() -> Checkpoint:
    return Checkpoint(origin=ORIGIN, size=5, root_hash=ROOT, timestamp=1767225600)


@pytest.fixture
def note(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> str:
    return sign_checkpoint(checkpoint, sign=key.sign, public_key=key.public_key())


def parse(note: str, key: Ed25519PrivateKey, origin: str = ORIGIN) -> Checkpoint:
    return parse_signed_note(note, public_key=key.public_key(), origin=origin)


def signature_line(text: str, key: Ed25519PrivateKey, name: str = ORIGIN) -> str:
    blob = signed_note_key_hash(name, key.public_key()) + key.sign(text.encode())
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


def test_round_trip(note: str, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    assert parse(note, key) == checkpoint


def test_body_is_the_c2sp_checkpoint_form(checkpoint: Checkpoint) -> None:
    body = checkpoint.body()
    root = base64.b64encode(ROOT).decode()
    assert body == f"{ORIGIN}\n5\n{root}\ntimestamp 1767225600\n"
    origin, size, root_line, extension, end = body.split("\n")
    assert (origin, size, end) == (ORIGIN, "5", "")
    assert re.fullmatch(r"[A-Za-z0-9+/]{43}=", root_line)  # standard alphabet, padded
    assert base64.b64decode(root_line) == ROOT
    assert extension == "timestamp 1767225600"
    empty = Checkpoint(origin=ORIGIN, size=0, root_hash=EMPTY_ROOT, timestamp=0)
    assert empty.body() == f"{ORIGIN}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\ntimestamp 0\n"


def test_note_is_body_blank_line_and_one_signature(note: str, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    body = checkpoint.body()
    assert note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n") and note.count("\n") == 6
    blob = base64.b64decode(note[len(body) + 1 :].rstrip("\n").split(" ")[2], validate=True)
    assert len(blob) == 4 + 64
    assert blob[:4] == signed_note_key_hash(ORIGIN, key.public_key())
    key.public_key().verify(blob[4:], body.encode())


def test_interoperates_with_the_go_signed_note_reference() -> None:
    name, key_hash, material = GO_VKEY.split("+", 2)
    raw = base64.b64decode(material)
    assert raw[0] == 1  # Ed25519
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    assert signed_note_key_hash(name, public_key).hex() == key_hash
    # The signature line is accepted: what fails is only that the text is not a checkpoint.
    with pytest.raises(CheckpointError, match="origin, size, root and timestamp"):
        parse_signed_note(GO_NOTE, public_key=public_key, origin=name)
    with pytest.raises(CheckpointError, match="bad signature"):
        parse_signed_note(GO_NOTE.replace("cryptography", "cryptographY"), public_key=public_key, origin=name)


def test_cosignatures_by_other_keys_are_ignored(note: str, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    witness = Ed25519PrivateKey.generate()
    cosigned = note + signature_line(checkpoint.body(), witness, "witness.example.net")
    assert parse(cosigned, key) == checkpoint
    witness_first = note.replace("\n\n", "\n\n" + signature_line(checkpoint.body(), witness, "witness.example.net"))
    assert parse(witness_first, key) == checkpoint


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n5\n", "\n6\n"),  # size
        ("\n5\n", "\n05\n"),  # size, non-canonical
        ("timestamp 1767225600", "timestamp 1767225601"),
        (ORIGIN + "\n", "registry.example.org/other\n"),  # origin in the body
        ("\ntimestamp", "\nextra line\ntimestamp"),
        ("1767225600\n", "1767225600\nextra line\n"),
    ],
)
def test_tampered_body_is_rejected(note: str, key: Ed25519PrivateKey, old: str, new: str) -> None:
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(CheckpointError, match="bad signature"):
        parse(tampered, key)


def test_tampered_root_is_rejected(note: str, key: Ed25519PrivateKey) -> None:
    root = base64.b64encode(ROOT).decode()
    other = base64.b64encode(bytes([ROOT[0] ^ 1]) + ROOT[1:]).decode()
    with pytest.raises(CheckpointError, match="bad signature"):
        parse(note.replace(root, other), key)


def test_tampered_signature_is_rejected(note: str, key: Ed25519PrivateKey) -> None:
    text, line = note.split("\n\n")
    name, blob = line.rstrip("\n").split(" ")[1:]
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    with pytest.raises(CheckpointError, match="bad signature"):
        parse(f"{text}\n\n\u2014 {name} {base64.b64encode(raw).decode()}\n", key)
    short = base64.b64encode(bytes(raw[:40])).decode()
    with pytest.raises(CheckpointError, match="bad signature"):
        parse(f"{text}\n\n\u2014 {name} {short}\n", key)


def test_signature_of_another_key_is_rejected(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    impostor = Ed25519PrivateKey.generate()
    forged = sign_checkpoint(checkpoint, sign=impostor.sign, public_key=impostor.public_key())
    with pytest.raises(CheckpointError, match="no signature by the expected key"):
        parse(forged, key)
    # Same key name, our key hash, the impostor's signature.
    blob = signed_note_key_hash(ORIGIN, key.public_key()) + impostor.sign(checkpoint.body().encode())
    with pytest.raises(CheckpointError, match="bad signature"):
        parse(f"{checkpoint.body()}\n\u2014 {ORIGIN} {base64.b64encode(blob).decode()}\n", key)


def test_wrong_origin_is_rejected(note: str, checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    # Asked about another log, our note carries no signature under that name.
    with pytest.raises(CheckpointError, match="no signature by the expected key"):
        parse(note, key, origin="registry.example.org/other")
    # A validly signed body whose origin line names another log.
    body = Checkpoint(origin="registry.example.org/other", size=5, root_hash=ROOT, timestamp=1).body()
    with pytest.raises(CheckpointError, match="wrong origin"):
        parse(body + "\n" + signature_line(body, key), key)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace("\n\n", "\n"),  # no signature block
        lambda n: n[:-1],  # signature block without its final newline
        lambda n: n.replace("\u2014", "-"),  # not an em dash
        lambda n: n.replace("\u2014 " + ORIGIN + " ", "\u2014 " + ORIGIN),  # no space before the signature
        lambda n: n.replace("\u2014 " + ORIGIN, "\u2014 bad+name"),
        lambda n: n[:-3] + "!!\n",  # not base64
        lambda n: n.replace("\n\n", "\n\n\u2014 x AAAA\n"),  # too short to hold a key hash
        lambda n: n.replace("\n\n", "\r\n\n"),  # control character in the text
        lambda n: n.replace("\n\n", "\ud800\n\n"),  # not encodable as UTF-8
        lambda n: n + "\u2014 w AAAAAAAA\n" * 100,  # too many signatures
        lambda n: n + "\n",
    ],
)
def test_malformed_notes_are_rejected(note: str, key: Ed25519PrivateKey, mangle: object) -> None:
    with pytest.raises(CheckpointError):
        parse(mangle(note), key)  # type: ignore[operator]


@pytest.mark.parametrize(
    "body",
    [
        "{origin}\n5\n{root}\n",  # no timestamp
        "{origin}\n5\n{root}\ntimestamp 1\nmore\n",
        "{origin}\n-5\n{root}\ntimestamp 1\n",
        "{origin}\n5\n{root}\ntimestamp 01\n",
        "{origin}\n5\n{root}\ntimestamp: 1\n",
        "{origin}\n5\nnot base64!\ntimestamp 1\n",
        "{origin}\n5\nAAAA\ntimestamp 1\n",  # 3 bytes, not a hash
        "{origin}\n5\n{root_unpadded}\ntimestamp 1\n",
        "{origin}\n5\n{root_urlsafe}\ntimestamp 1\n",
        "{origin}\n5\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFV=\ntimestamp 1\n",  # non-canonical final bits
        "{origin}\n99999999999999999999\n{root}\ntimestamp 1\n",  # over 2^64
    ],
)
def test_malformed_bodies_are_rejected_even_when_signed(key: Ed25519PrivateKey, body: str) -> None:
    root_with_specials = bytes([0xFB, 0xFF] * 16)
    values = {
        "origin": ORIGIN,
        "root": base64.b64encode(root_with_specials).decode(),
        "root_unpadded": base64.b64encode(ROOT).decode().rstrip("="),
        "root_urlsafe": base64.urlsafe_b64encode(root_with_specials).decode(),
    }
    text = body.format(**values)
    with pytest.raises(CheckpointError):
        parse(text + "\n" + signature_line(text, key), key)


@pytest.mark.parametrize("origin", ["", "has space", "has+plus", "line\nbreak", "tab\there", "nbsp\u00a0here", 7])
def test_invalid_origins(origin: object, key: Ed25519PrivateKey) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin=origin, size=0, root_hash=EMPTY_ROOT, timestamp=0)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        parse_signed_note("x\n\n", public_key=key.public_key(), origin=origin)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "root", "timestamp"),
    [
        (-1, ROOT, 0),
        (2**64, ROOT, 0),
        (True, ROOT, 0),
        (1, ROOT[:31], 0),
        (1, ROOT.hex(), 0),
        (1, ROOT, -1),
        (1, ROOT, 1.5),
    ],
)
def test_invalid_checkpoint_fields(size: object, root: object, timestamp: object) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(origin=ORIGIN, size=size, root_hash=root, timestamp=timestamp)  # type: ignore[arg-type]


def test_signing_with_a_mismatched_key_fails(checkpoint: Checkpoint, key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointError, match="does not match"):
        sign_checkpoint(checkpoint, sign=other.sign, public_key=key.public_key())


def test_note_must_be_text(note: str, key: Ed25519PrivateKey) -> None:
    with pytest.raises(CheckpointError):
        parse(note.encode(), key)  # type: ignore[arg-type]
