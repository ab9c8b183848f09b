"""Merkle tree edges (registry/audit/merkle.py): sizes 0, 1, 2, 3, powers of two, and
frontier sizes beyond 2^63, each written out from the RFC 6962 definitions by hand.

Found by mutation testing (bench/mutate.py): the property tests in test_merkle.py never
reached an index equal to the tree size with a proof that would otherwise fold to the
root, a frontier size with the top bit set, or two frontiers that share one of size or
peaks.
"""

from __future__ import annotations

import hashlib

import pytest

from registry.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    HashSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

L = [leaf_hash(bytes([i])) for i in range(8)]


def H(*parts: bytes) -> bytes:  # noqa: N802 - the RFC's name
    return hashlib.sha256(b"".join(parts)).digest()


def store(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    frontier, out = Frontier(), dict[tuple[int, int], bytes]()
    for h in hashes:
        out.update({(level, index): node for level, index, node in frontier.append(h)})
    return out


def get_from(hashes: list[bytes]) -> HashSource:
    stored = store(hashes)
    return lambda level, index: stored[level, index]


# --- hashes and roots, by the letter of RFC 6962 §2.1 ------------------------------------


def test_prefixes() -> None:
    assert (
        leaf_hash(b"")
        == H(b"\x00")
        == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    )
    assert node_hash(L[0], L[1]) == H(b"\x01", L[0], L[1])
    assert node_hash(L[0], L[1]) != node_hash(L[1], L[0])
    assert EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


@pytest.mark.parametrize(
    ("size", "root"),
    [
        (0, EMPTY_ROOT),
        (1, L[0]),
        (2, H(b"\x01", L[0], L[1])),
        (3, H(b"\x01", H(b"\x01", L[0], L[1]), L[2])),
        (4, H(b"\x01", H(b"\x01", L[0], L[1]), H(b"\x01", L[2], L[3]))),
        (5, H(b"\x01", H(b"\x01", H(b"\x01", L[0], L[1]), H(b"\x01", L[2], L[3])), L[4])),
        (
            8,
            H(
                b"\x01",
                H(b"\x01", H(b"\x01", L[0], L[1]), H(b"\x01", L[2], L[3])),
                H(b"\x01", H(b"\x01", L[4], L[5]), H(b"\x01", L[6], L[7])),
            ),
        ),
    ],
)
def test_roots_of_edge_sizes(size: int, root: bytes) -> None:
    assert root_from_leaf_hashes(L[:size]) == root
    frontier = Frontier()
    for h in L[:size]:
        frontier.append(h)
    assert frontier.root() == root


# --- proofs at the edges ---------------------------------------------------------------------


def test_inclusion_in_tiny_trees() -> None:
    assert inclusion_proof(get_from(L[:1]), 0, 1) == []
    assert verify_inclusion(L[0], 0, 1, [], L[0])
    assert inclusion_proof(get_from(L[:2]), 0, 2) == [L[1]]
    assert inclusion_proof(get_from(L[:2]), 1, 2) == [L[0]]
    root2 = node_hash(L[0], L[1])
    assert verify_inclusion(L[1], 1, 2, [L[0]], root2)
    assert not verify_inclusion(L[1], 1, 2, [L[0]], node_hash(L[1], L[0]))  # sides matter


def test_index_equal_to_size_is_refused_even_when_the_hashes_fold() -> None:
    # Leaf 1 of a one-leaf tree does not exist, although its empty path folds to the root.
    assert not verify_inclusion(L[0], 1, 1, [], L[0])
    # And leaf 2 of a two-leaf tree, with a path that would fold to its root.
    assert not verify_inclusion(L[1], 2, 2, [L[0]], node_hash(L[0], L[1]))


@pytest.mark.parametrize(
    ("old", "new", "proof"),
    [
        (1, 2, [L[1]]),
        (2, 4, [node_hash(L[2], L[3])]),
        (3, 4, [L[2], L[3], node_hash(L[0], L[1])]),
        (4, 8, [node_hash(node_hash(L[4], L[5]), node_hash(L[6], L[7]))]),
        (2, 3, [L[2]]),
    ],
)
def test_consistency_at_edge_sizes(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(get_from(L[:new]), old, new) == proof
    old_root, new_root = root_from_leaf_hashes(L[:old]), root_from_leaf_hashes(L[:new])
    assert verify_consistency(old, new, old_root, new_root, proof)
    assert not verify_consistency(old, new, new_root, old_root, proof)


# --- the frontier's stored form ----------------------------------------------------------------


@pytest.mark.parametrize("size", [2**63, 2**63 + 1, 2**64 - 1])
def test_frontier_sizes_use_all_64_bits(size: int) -> None:
    # Unsigned: a size with the top bit set is a size, not a negative number.
    peaks = [H(bytes([i])) for i in range(size.bit_count())]
    data = size.to_bytes(8, "big") + b"".join(peaks)
    frontier = Frontier.from_bytes(data)
    assert frontier.size == size
    assert frontier.to_bytes() == data
    assert [h for _, h in frontier.peaks] == peaks
    assert frontier.peaks[0][0] == 63


def test_frontiers_differ_in_size_or_peaks() -> None:
    one, two = L[0], L[1]
    size1 = Frontier.from_bytes((1).to_bytes(8, "big") + one)
    size2 = Frontier.from_bytes((2).to_bytes(8, "big") + one)  # same peak hash, another size
    other = Frontier.from_bytes((1).to_bytes(8, "big") + two)  # same size, another peak
    assert size1 == Frontier.from_bytes((1).to_bytes(8, "big") + one)
    assert size1 != size2
    assert size1 != other
