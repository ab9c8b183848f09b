"""RFC 6962 / 9162 Merkle trees against a literal reference and the published CT vectors.

Sizes stay small (<= 300 leaves) to keep the suite fast; the O(log n) lookup bounds are
checked on a 2^40-leaf tree with a synthetic hash source instead of a big one in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    HashSource,
    aligned_nodes_completed_by,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle testonly/constants.go (the CT reference data).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")
]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = {
    (0, 1): [],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
CT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
    (6, 7): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}

sizes = st.integers(min_value=0, max_value=300)


# --- the RFC text, transcribed literally -------------------------------------------------


def ref_mth(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 0:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(hashes[:k]) + ref_mth(hashes[k:])).digest()


def ref_path(m: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return ref_path(m, hashes[:k]) + [ref_mth(hashes[k:])]
    return ref_path(m - k, hashes[k:]) + [ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if b else [ref_mth(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return ref_subproof(m, hashes[:k], b) + [ref_mth(hashes[k:])]
    return ref_subproof(m - k, hashes[k:], False) + [ref_mth(hashes[:k])]


def ref_aligned(hashes: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete aligned subtree (level, index) -> hash, straight from the definition."""
    store = {}
    level = 0
    while (1 << level) <= len(hashes):
        width = 1 << level
        for index in range(len(hashes) // width):
            store[level, index] = ref_mth(hashes[index * width : (index + 1) * width])
        level += 1
    return store


# --- helpers -------------------------------------------------------------------------------


def leaves(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"{salt}:{i}".encode()) for i in range(n)]


def stored(hashes: Sequence[bytes]) -> tuple[Frontier, HashSource]:
    """Append through a Frontier and keep what it emits, as the storage layer will."""
    frontier = Frontier()
    store: dict[tuple[int, int], bytes] = {}
    for h in hashes:
        for level, index, node in frontier.append(h):
            assert (level, index) not in store
            store[level, index] = node
    return frontier, lambda level, index: store[level, index]


def flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# --- hashing and roots ---------------------------------------------------------------------


def test_domain_separated_hashes() -> None:
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(b"l" * 32, b"r" * 32) == hashlib.sha256(b"\x01" + b"l" * 32 + b"r" * 32).digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_ct_roots_for_every_size() -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]
    for size, expected in enumerate(CT_ROOTS):
        assert root_from_leaf_hashes(hashes[:size]).hex() == expected
        frontier, get = stored(hashes[:size])
        assert frontier.root().hex() == expected
        assert subtree_hash(get, 0, size).hex() == expected


@pytest.mark.parametrize(("index", "size"), list(CT_INCLUSION))
def test_ct_inclusion_vectors(index: int, size: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in CT_LEAVES]
    _, get = stored(hashes)
    proof = inclusion_proof(get, index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[index, size]
    assert verify_inclusion(hashes[index], index, size, proof, bytes.fromhex(CT_ROOTS[size]))


@pytest.mark.parametrize(("old", "new"), list(CT_CONSISTENCY))
def test_ct_consistency_vectors(old: int, new: int) -> None:
    _, get = stored([leaf_hash(leaf) for leaf in CT_LEAVES])
    proof = consistency_proof(get, old, new)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[old, new]
    assert verify_consistency(old, new, bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new]), proof)


@given(n=sizes, salt=st.integers(0, 1000))
def test_root_matches_reference(n: int, salt: int) -> None:
    hashes = leaves(n, salt)
    assert root_from_leaf_hashes(hashes) == ref_mth(hashes)


@settings(max_examples=30, deadline=None)
@given(n=sizes)
def test_frontier_tracks_root_and_emits_exactly_the_aligned_subtrees(n: int) -> None:
    hashes = leaves(n)
    frontier = Frontier()
    emitted: dict[tuple[int, int], bytes] = {}
    for size, h in enumerate(hashes, start=1):
        entries = frontier.append(h)
        assert [(level, index) for level, index, _ in entries] == aligned_nodes_completed_by(size - 1)
        emitted.update({(level, index): node for level, index, node in entries})
        assert frontier.size == size
        assert frontier.root() == ref_mth(hashes[:size])
    assert emitted == ref_aligned(hashes)
    # The peaks are the aligned subtrees of the size's binary decomposition.
    start = 0
    for height, peak in frontier.peaks:
        assert peak == ref_mth(hashes[start : start + (1 << height)])
        start += 1 << height
    assert start == n


@given(n=sizes)
def test_frontier_persists_and_rebuilds_from_storage(n: int) -> None:
    frontier, get = stored(leaves(n))
    assert Frontier.from_bytes(frontier.to_bytes()) == frontier
    assert Frontier.from_hash_source(get, n) == frontier
    assert len(frontier.to_bytes()) == 8 + 32 * n.bit_count()
    # A restored frontier keeps extending the same tree.
    restored = Frontier.from_bytes(frontier.to_bytes())
    extra = leaf_hash(b"next")
    assert restored.append(extra) == frontier.append(extra)
    assert restored.root() == ref_mth([*leaves(n), extra])


def test_frontier_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        Frontier().append(b"short")
    with pytest.raises(ValueError):
        Frontier.from_bytes(b"\x00" * 7)
    with pytest.raises(ValueError):
        Frontier.from_bytes((3).to_bytes(8, "big") + b"\x00" * 32)  # size 3 needs two peaks
    with pytest.raises(ValueError):
        Frontier.from_hash_source(lambda level, index: b"", -1)
    assert Frontier().root() == EMPTY_ROOT
    assert Frontier() != object()
    assert repr(Frontier()) == "Frontier(size=0)"


def test_aligned_nodes_completed_by() -> None:
    assert aligned_nodes_completed_by(0) == [(0, 0)]
    assert aligned_nodes_completed_by(2) == [(0, 2)]
    assert aligned_nodes_completed_by(3) == [(0, 3), (1, 1), (2, 0)]
    assert aligned_nodes_completed_by(11) == [(0, 11), (1, 5), (2, 2)]
    with pytest.raises(ValueError):
        aligned_nodes_completed_by(-1)


# --- subtree hashes --------------------------------------------------------------------------


@st.composite
def valid_ranges(draw: st.DrawFn) -> tuple[int, int, int]:
    """(tree size, start, end) with [start, end) a node of RFC 6962 trees: start % bit_ceil(size) == 0."""
    n = draw(st.integers(1, 300))
    width = draw(st.integers(1, n))
    align = 1 << (width - 1).bit_length()
    start = align * draw(st.integers(0, (n - width) // align))
    return n, start, start + width


@given(valid_ranges())
def test_subtree_hash_matches_the_range_root(case: tuple[int, int, int]) -> None:
    n, start, end = case
    hashes = leaves(n)
    _, get = stored(hashes)
    assert subtree_hash(get, start, end) == root_from_leaf_hashes(hashes[start:end])


def test_subtree_hash_rejects_ranges_that_are_not_nodes() -> None:
    _, get = stored(leaves(16))
    assert subtree_hash(get, 5, 5) == EMPTY_ROOT
    for start, end in [(1, 3), (2, 5), (4, 9), (5, 4), (-1, 2)]:
        with pytest.raises(ValueError):
            subtree_hash(get, start, end)


# --- inclusion ---------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300))
def test_inclusion_proofs_for_every_index(n: int) -> None:
    hashes = leaves(n)
    _, get = stored(hashes)
    root = ref_mth(hashes)
    for index in range(n):
        proof = inclusion_proof(get, index, n)
        assert proof == ref_path(index, hashes)
        assert verify_inclusion(hashes[index], index, n, proof, root)
        assert not verify_inclusion(leaf_hash(b"other"), index, n, proof, root)
        assert not verify_inclusion(hashes[index], index, n, proof, flip(root))
        if n > 1:
            other = (index + 1) % n
            assert not verify_inclusion(hashes[index], other, n, proof, root)


@given(n=st.integers(2, 300), data=st.data())
def test_inclusion_rejects_tampered_proofs(n: int, data: st.DataObject) -> None:
    hashes = leaves(n)
    _, get = stored(hashes)
    root = ref_mth(hashes)
    index = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(get, index, n)
    at = data.draw(st.integers(0, len(proof) - 1))
    assert not verify_inclusion(hashes[index], index, n, [*proof[:at], flip(proof[at]), *proof[at + 1 :]], root)
    assert not verify_inclusion(hashes[index], index, n, proof[:-1], root)
    assert not verify_inclusion(hashes[index], index, n, [*proof, proof[-1]], root)


def test_inclusion_malformed_input_is_false_not_an_error() -> None:
    hashes = leaves(5)
    _, get = stored(hashes)
    root = ref_mth(hashes)
    proof = inclusion_proof(get, 1, 5)
    assert verify_inclusion(hashes[1], 1, 5, proof, root)
    bad: list[tuple[object, ...]] = [
        (hashes[1][:31], 1, 5, proof, root),
        (hashes[1], 1, 5, proof, root[:31]),
        (hashes[1], -1, 5, proof, root),
        (hashes[1], 5, 5, proof, root),
        (hashes[1], 1, 0, proof, root),
        (hashes[1], True, 5, proof, root),
        (hashes[1], 1, 5.0, proof, root),
        (hashes[1], 1, 5, [*proof[:-1], "x"], root),
        (hashes[1], 1, 5, b"".join(proof), root),
        (hashes[1], 1, 5, None, root),
        (None, 1, 5, proof, root),
    ]
    for args in bad:
        assert verify_inclusion(*args) is False  # type: ignore[arg-type]
    for index, size in [(-1, 5), (5, 5), (0, 0)]:
        with pytest.raises(ValueError):
            inclusion_proof(get, index, size)


# --- consistency -------------------------------------------------------------------------------


@st.composite
def size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(0, new)), new


@settings(max_examples=200)
@given(size_pairs())
def test_consistency_proofs(pair: tuple[int, int]) -> None:
    old, new = pair
    hashes = leaves(new)
    _, get = stored(hashes)
    old_root, new_root = ref_mth(hashes[:old]), ref_mth(hashes)
    proof = consistency_proof(get, old, new)
    if 0 < old < new:
        assert proof == ref_subproof(old, hashes, True)
    else:
        assert proof == []
    assert verify_consistency(old, new, old_root, new_root, proof)
    assert not verify_consistency(old, new, flip(old_root), new_root, proof)
    if old:  # every tree extends the empty one, whatever its root
        assert not verify_consistency(old, new, old_root, flip(new_root), proof)
    if proof:
        assert not verify_consistency(old, new, old_root, new_root, [flip(proof[0]), *proof[1:]])
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not verify_consistency(old, new, old_root, new_root, [*proof, proof[-1]])


@given(size_pairs())
def test_consistency_fails_for_a_rewritten_history(pair: tuple[int, int]) -> None:
    old, new = pair
    if old == 0:
        return
    hashes = leaves(new)
    forged = [leaf_hash(b"rewritten"), *hashes[1:]]
    _, get = stored(forged)
    # The log operator rewrote leaf 0 after the auditor saved the old root.
    proof = consistency_proof(get, old, new)
    assert not verify_consistency(old, new, ref_mth(hashes[:old]), ref_mth(forged), proof)


def test_consistency_malformed_input_is_false_not_an_error() -> None:
    hashes = leaves(7)
    _, get = stored(hashes)
    r3, r7 = ref_mth(hashes[:3]), ref_mth(hashes)
    proof = consistency_proof(get, 3, 7)
    assert verify_consistency(3, 7, r3, r7, proof)
    bad: list[tuple[object, ...]] = [
        (7, 3, r7, r3, proof),
        (-1, 7, r3, r7, proof),
        (3, 7, r3[:31], r7, proof),
        (3, 7, r3, r7, []),
        (3, 7, r3, r7, [*proof[:-1], 7]),
        (3, 7, r3, r7, b"".join(proof)),
        (3, 7.0, r3, r7, proof),
        (7, 7, r7, r7, proof),
        (0, 7, EMPTY_ROOT, r7, proof),
        (0, 7, r3, r7, []),
    ]
    for args in bad:
        assert verify_consistency(*args) is False  # type: ignore[arg-type]
    assert verify_consistency(0, 7, EMPTY_ROOT, r7, [])
    assert verify_consistency(7, 7, r7, r7, [])
    for old, new in [(-1, 3), (4, 3)]:
        with pytest.raises(ValueError):
            consistency_proof(get, old, new)


# --- cost ----------------------------------------------------------------------------------------


def test_proofs_need_logarithmically_many_lookups() -> None:
    lookups: list[tuple[int, int]] = []

    def get(level: int, index: int) -> bytes:
        lookups.append((level, index))
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    size = (1 << 40) - 12345
    for index in (0, 1, size // 3, size - 2, size - 1):
        lookups.clear()
        assert len(inclusion_proof(get, index, size)) <= 41
        assert len(lookups) <= 2 * 41
    for old in (1, 12345, size // 2 + 1, size - 1):
        lookups.clear()
        consistency_proof(get, old, size)
        assert len(lookups) <= 3 * 41
    lookups.clear()
    subtree_hash(get, 0, size)
    assert len(lookups) == size.bit_count()
