"""Known-answer vectors for blind-index tokens (registry/crypto/blind_index.py).

A token is HMAC(HKDF(suite hash, root, "registry-bidx|table|field|version"), UTF-8 of the
normalised value), cut to `bits` with the spare low bits zeroed. Every stored index entry
depends on these exact bytes: a change to the info string, the hash, the truncation or a
normaliser silently makes every search miss. The hex below was computed once from that
construction; the normalised values come from the domain normalisers, as they are indexed.
"""

from __future__ import annotations

from datetime import date

import pytest

from registry.crypto.blind_index import MAX_BITS, IndexKey, token
from registry.crypto.suites import Suite
from registry.people.identifiers import name_key, normalise_name, normalise_phone, parse_id_number

ROOT = bytes(range(32))
BITS = (1, 8, 9, 23, 256)

# (suite, field, version, normalised value) -> token at each of BITS.
VECTORS = {
    (Suite.AES256GCM, "id_number", 1, "11010519491231002X"): (
        "80", "91", "9180", "919eac", "919eac093d28ba4d131316fff84924fb2a035736efb162c96533d98ea6647751",
    ),
    (Suite.AES256GCM, "phone", 1, "13800138000"): (
        "80", "cd", "cd00", "cd65d4", "cd65d4f786c565bfff26aaea7b2a8ca33de65d03b3a3f6134778f584cb8eb131",
    ),
    (Suite.AES256GCM, "name_birth", 2, "张三|1990-01-02"): (
        "80", "c3", "c300", "c32cc2", "c32cc272799283a83c5a09979039ff6ac34f5691a628bca54626a8780c14a5ec",
    ),
    (Suite.SM4GCM, "id_number", 1, "11010519491231002X"): (
        "00", "4d", "4d80", "4da324", "4da3248986fde566c22eeff373f7e66cc7f423d853a9189a9b88e48dd290cc65",
    ),
    (Suite.SM4GCM, "phone", 1, "13800138000"): (
        "00", "18", "1880", "18aa3a", "18aa3ba9b05df4456770cb3e8a1e2597fbf23de87bc63cbb72bfbe811aee6b32",
    ),
    (Suite.SM4GCM, "name_birth", 2, "张三|1990-01-02"): (
        "80", "fc", "fc80", "fce9aa", "fce9ab6fb5fe06c373f6ac3007b8d234f670f515d909852acf9ca92228e17607",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("suite", "field", "version", "value"), list(VECTORS), ids=[f"{k[0].value}-{k[1]}" for k in VECTORS]
)
def test_token_vectors(suite: Suite, field: str, version: int, value: str) -> None:
    key = IndexKey.derive(ROOT, suite=suite, table="person", field=field, version=version)
    assert [token(key, value, bits=bits).hex() for bits in BITS] == list(VECTORS[suite, field, version, value])


def test_bits_bounds() -> None:
    key = IndexKey.derive(ROOT, suite=Suite.AES256GCM, table="person", field="phone", version=1)
    assert MAX_BITS == 256
    assert len(token(key, "13800138000", bits=255)) == 32
    assert token(key, "13800138000", bits=255)[-1] == 0x31 & 0xFE  # the last bit cleared
    for bits in (0, 257):
        with pytest.raises(ValueError, match="bits"):
            token(key, "13800138000", bits=bits)


# What the domain hands the index: each spelling a clerk may type reaches the vector's value.
@pytest.mark.parametrize("raw", ["+86 138-0013-8000", "0086 13800138000", "8613800138000", "(138) 0013 8000"])
def test_phone_spellings_index_alike(raw: str) -> None:
    assert normalise_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw", ["11010519491231002x", " 11010519491231002X ", "１１０１０５１９４９１２３１００２Ｘ"])
def test_id_number_spellings_index_alike(raw: str) -> None:
    assert parse_id_number(raw, today=date(2026, 1, 1)).value == "11010519491231002X"


@pytest.mark.parametrize("raw", ["张三", "张 三", "张　三 ", "\t张\n三"])
def test_name_birth_spellings_index_alike(raw: str) -> None:
    assert name_key(raw, date(1990, 1, 2)) == "张三|1990-01-02"


def test_name_normaliser_folds_width_and_space() -> None:
    assert normalise_name("Ｚｈａｎｇ San") == "ZhangSan"
