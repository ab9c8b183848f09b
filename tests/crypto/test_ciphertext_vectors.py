"""Known-answer vectors for the field ciphertext format (registry/crypto/ciphertext.py).

    version(1) ‖ suite id(1) ‖ key version(4, big-endian) ‖ nonce(12) ‖ ciphertext ‖ tag(16)
    AEAD associated data = header ‖ "registry-aad-v1" ‖ len‖table ‖ len‖column ‖ len‖record id ‖ key version

Round trips cannot notice a change to the format that both sides make (another AAD prefix,
a 2-byte key version, renumbered suites): stored data would then no longer open. So the
bytes are pinned here, written out by hand: the blobs below were produced once from the
layout above with pyca/cryptography's AES-GCM and SM4-GCM directly, and the tests check
that `decrypt` opens them, that `encrypt` writes exactly that construction (its nonce is
random and cannot be injected, so the test reads it back from the blob and recomputes the
rest), and that the primitives themselves match the published vectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from registry.crypto.ciphertext import (
    FORMAT_VERSION,
    HEADER_LENGTH,
    MAX_KEY_VERSION,
    MIN_BLOB_LENGTH,
    Aad,
    DataKey,
    DecryptionError,
    decrypt,
    encrypt,
    header_key_version,
)
from registry.crypto.suites import NONCE_LENGTH, TAG_LENGTH, Suite

KEYS = {Suite.AES256GCM: bytes(range(32)), Suite.SM4GCM: bytes(range(0x40, 0x50))}
SUITE_BYTE = {Suite.AES256GCM: 0x01, Suite.SM4GCM: 0x02}
NONCE = bytes.fromhex("f0e0d0c0b0a0908070605040")
PLAINTEXT = "张三 Zhang San".encode()
VERSIONS = [7, 0, 0xFFFFFFFF]  # a typical one and both bounds of the 4-byte field


def aad(version: int) -> Aad:
    return Aad(table="person", column="name_ct", record_id="p-0001", key_version=version)


def aad_bytes(version: int) -> bytes:
    """Aad.encode(), by hand: the prefix, each text field with a 4-byte length, the version."""
    return (
        b"registry-aad-v1"
        + bytes.fromhex("00000006")
        + b"person"
        + bytes.fromhex("00000007")
        + b"name_ct"
        + bytes.fromhex("00000006")
        + b"p-0001"
        + version.to_bytes(4, "big")
    )


def header(suite: Suite, version: int) -> bytes:
    return bytes([0x01, SUITE_BYTE[suite]]) + version.to_bytes(4, "big")


# (suite, key version) -> header, NONCE, ciphertext ‖ tag of PLAINTEXT under KEYS[suite], aad(version).
VECTORS = {
    (Suite.AES256GCM, 7): "010100000007"
    "f0e0d0c0b0a0908070605040"
    "4b841c86d13a844e8e542c302bfca42910c29471e8d46612b7f7856c74281c4d",
    (Suite.AES256GCM, 0): "010100000000"
    "f0e0d0c0b0a0908070605040"
    "4b841c86d13a844e8e542c302bfca429b61e23a50dc3ac9dd76783403728ea90",
    (Suite.AES256GCM, 0xFFFFFFFF): "0101ffffffff"
    "f0e0d0c0b0a0908070605040"
    "4b841c86d13a844e8e542c302bfca429f3df64e61f2eff749aacf35db2c258d1",
    (Suite.SM4GCM, 7): "010200000007"
    "f0e0d0c0b0a0908070605040"
    "0d4f3d13168dd042b36c5267c70041c1f985851e8f32e11f33b4456835aa683b",
    (Suite.SM4GCM, 0): "010200000000"
    "f0e0d0c0b0a0908070605040"
    "0d4f3d13168dd042b36c5267c70041c1c0202da71ac54fdfc7c6e29c225d8dad",
    (Suite.SM4GCM, 0xFFFFFFFF): "0102ffffffff"
    "f0e0d0c0b0a0908070605040"
    "0d4f3d13168dd042b36c5267c70041c10af064561745f802fcd41403929d2953",
}
cases = pytest.mark.parametrize(("suite", "version"), list(VECTORS), ids=[f"{s.value}-v{v}" for s, v in VECTORS])


def key(suite: Suite, version: int) -> DataKey:
    return DataKey(KEYS[suite], suite=suite, version=version)


def seal_directly(suite: Suite, secret: bytes, nonce: bytes, plaintext: bytes, associated: bytes) -> bytes:
    """The AEAD straight from pyca/cryptography, not through registry.crypto.suites."""
    if suite is Suite.AES256GCM:
        return AESGCM(secret).encrypt(nonce, plaintext, associated)
    encryptor = Cipher(algorithms.SM4(secret), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(associated)
    return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag


# --- the format's constants --------------------------------------------------------------


def test_format_constants() -> None:
    assert (FORMAT_VERSION, HEADER_LENGTH, NONCE_LENGTH, TAG_LENGTH) == (1, 6, 12, 16)
    assert MIN_BLOB_LENGTH == 34
    assert MAX_KEY_VERSION == 4_294_967_295
    # Stored data carries these ids: they must never be renumbered.
    assert {s: s.suite_id for s in Suite} == SUITE_BYTE
    assert Suite.from_id(1) is Suite.AES256GCM and Suite.from_id(2) is Suite.SM4GCM


@pytest.mark.parametrize("version", VERSIONS)
def test_aad_encoding_is_pinned(version: int) -> None:
    assert aad(version).encode() == aad_bytes(version)


def test_aad_encoding_literal() -> None:
    assert aad(7).encode() == bytes.fromhex(
        "72656769737472792d6161642d7631"  # "registry-aad-v1"
        "00000006706572736f6e"  # "person"
        "000000076e616d655f6374"  # "name_ct"
        "00000006702d30303031"  # "p-0001"
        "00000007"
    )
    # Lengths are UTF-8 bytes, not characters.
    assert Aad(table="人口", column="c", record_id="r", key_version=1).encode()[15:25] == (
        bytes.fromhex("00000006") + "人口".encode()
    )


# --- the vectors ---------------------------------------------------------------------------


@cases
def test_vector_is_the_documented_construction(suite: Suite, version: int) -> None:
    # Rebuilt from the layout in the module docstring with pyca alone: the hex above is right.
    head = header(suite, version)
    sealed = seal_directly(suite, KEYS[suite], NONCE, PLAINTEXT, head + aad_bytes(version))
    assert bytes.fromhex(VECTORS[suite, version]) == head + NONCE + sealed


@cases
def test_decrypt_opens_the_vector(suite: Suite, version: int) -> None:
    blob = bytes.fromhex(VECTORS[suite, version])
    assert decrypt(key(suite, version), blob, aad=aad(version)) == PLAINTEXT
    assert header_key_version(blob) == version


@cases
def test_encrypt_writes_the_documented_construction(suite: Suite, version: int) -> None:
    blob = encrypt(key(suite, version), PLAINTEXT, aad=aad(version))
    assert blob[:HEADER_LENGTH] == header(suite, version)
    nonce = blob[HEADER_LENGTH : HEADER_LENGTH + NONCE_LENGTH]
    assert blob[HEADER_LENGTH + NONCE_LENGTH :] == seal_directly(
        suite, KEYS[suite], nonce, PLAINTEXT, header(suite, version) + aad_bytes(version)
    )
    assert len(blob) == 6 + 12 + len(PLAINTEXT) + 16


@cases
def test_vector_refused_in_any_other_context(suite: Suite, version: int) -> None:
    blob = bytes.fromhex(VECTORS[suite, version])
    k = key(suite, version)
    for other in (
        dataclasses.replace(aad(version), table="persons"),
        dataclasses.replace(aad(version), column="name"),
        dataclasses.replace(aad(version), record_id="p-0002"),
    ):
        with pytest.raises(DecryptionError):
            decrypt(k, blob, aad=other)
    # The other suite's id in the header: refused before any decryption is tried.
    relabelled = blob[:1] + bytes([SUITE_BYTE[suite] ^ 0x03]) + blob[2:]
    with pytest.raises(DecryptionError):
        decrypt(k, relabelled, aad=aad(version))
    assert header_key_version(relabelled) == version  # a known suite: the header parses
    # Another format version.
    for fmt in (0x00, 0x02):
        with pytest.raises(DecryptionError):
            decrypt(k, bytes([fmt]) + blob[1:], aad=aad(version))


@pytest.mark.parametrize("suite", list(Suite))
@pytest.mark.parametrize(
    "head",
    [
        pytest.param(lambda suite: bytes([0x02, SUITE_BYTE[suite]]) + (7).to_bytes(4, "big"), id="format-2"),
        pytest.param(lambda suite: bytes([0x00, SUITE_BYTE[suite]]) + (7).to_bytes(4, "big"), id="format-0"),
        pytest.param(lambda suite: bytes([0x01, SUITE_BYTE[suite] ^ 0x03]) + (7).to_bytes(4, "big"), id="other-suite"),
    ],
)
def test_authentic_blob_with_a_foreign_header_is_refused(suite: Suite, head: Callable[[Suite], bytes]) -> None:
    # Sealed under the right key with that very header bound into the tag, so only the
    # header check stands between it and the plaintext: a blob of another format version,
    # or labelled with the other suite, is never opened as if it were this one.
    header_bytes = head(suite)
    blob = header_bytes + NONCE + seal_directly(suite, KEYS[suite], NONCE, PLAINTEXT, header_bytes + aad_bytes(7))
    with pytest.raises(DecryptionError):
        decrypt(key(suite, 7), blob, aad=aad(7))


def test_empty_plaintext_is_the_shortest_blob() -> None:
    k = key(Suite.AES256GCM, 7)
    head = header(Suite.AES256GCM, 7)
    blob = head + NONCE + seal_directly(Suite.AES256GCM, KEYS[Suite.AES256GCM], NONCE, b"", head + aad_bytes(7))
    assert len(blob) == MIN_BLOB_LENGTH
    assert decrypt(k, blob, aad=aad(7)) == b""
    assert header_key_version(blob) == 7
    with pytest.raises(DecryptionError):
        header_key_version(blob[:-1])


# --- key-version bounds ----------------------------------------------------------------------


@pytest.mark.parametrize("suite", list(Suite))
@pytest.mark.parametrize("version", [0, 0xFFFFFFFF])
def test_key_version_bounds_are_accepted(suite: Suite, version: int) -> None:
    k = DataKey(KEYS[suite], suite=suite, version=version)
    assert k.version == version
    assert aad(version).key_version == version
    blob = encrypt(k, b"x", aad=aad(version))
    assert blob[2:6] == version.to_bytes(4, "big")
    assert decrypt(k, blob, aad=aad(version)) == b"x"


# The messages name the argument: a caller building keys and AADs in one place must see which.
@pytest.mark.parametrize("version", [-1, 0x1_0000_0000])
def test_key_version_out_of_range_is_refused(version: int) -> None:
    with pytest.raises(ValueError, match=r"^Aad\.key_version must fit in 4 bytes$"):
        aad(version)
    with pytest.raises(ValueError, match=r"^DataKey\.version must fit in 4 bytes$"):
        DataKey(KEYS[Suite.AES256GCM], suite=Suite.AES256GCM, version=version)


@pytest.mark.parametrize("version", [True, False, 1.0, "7", None])
def test_key_version_must_be_an_int(version: object) -> None:
    with pytest.raises(TypeError, match=r"^Aad\.key_version must be an int$"):
        aad(version)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^DataKey\.version must be an int$"):
        DataKey(KEYS[Suite.AES256GCM], suite=Suite.AES256GCM, version=version)  # type: ignore[arg-type]


# --- header parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "version"),
    [
        ("010100000000", 0),
        ("010100000001", 1),
        ("010201020304", 0x01020304),
        ("0102ffffffff", 0xFFFFFFFF),
    ],
)
def test_header_key_version_reads_big_endian(head: str, version: int) -> None:
    assert header_key_version(bytes.fromhex(head) + bytes(NONCE_LENGTH + TAG_LENGTH)) == version


@pytest.mark.parametrize("head", ["000100000007", "020100000007", "ff0100000007", "010000000007", "010300000007"])
def test_header_with_unknown_format_or_suite_is_refused(head: str) -> None:
    with pytest.raises(DecryptionError):
        header_key_version(bytes.fromhex(head) + bytes(NONCE_LENGTH + TAG_LENGTH))


# --- the primitives against their published vectors -----------------------------------------------


def test_sm4_gcm_matches_rfc_8998() -> None:
    # RFC 8998 Appendix A.1 (SM4-GCM).
    secret = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    associated = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    sealed = bytes.fromhex(
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )
    assert Suite.SM4GCM.seal(secret, nonce, plaintext, associated) == sealed
    assert Suite.SM4GCM.open(secret, nonce, sealed, associated) == plaintext


def test_aes_256_gcm_matches_the_gcm_specification() -> None:
    # McGrew and Viega, "The Galois/Counter Mode of Operation", test case 16 (AES-256, 96-bit IV).
    secret = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
    nonce = bytes.fromhex("cafebabefacedbaddecaf888")
    associated = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
    plaintext = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
    )
    sealed = bytes.fromhex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
        "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        "76fc6ece0f4e1768cddf8853bb2d551b"
    )
    assert Suite.AES256GCM.seal(secret, nonce, plaintext, associated) == sealed
    assert Suite.AES256GCM.open(secret, nonce, sealed, associated) == plaintext
