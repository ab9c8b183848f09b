"""RFC 6962 / RFC 9162 §2 Merkle tree hashing, proofs and their verification (SHA-256).

Leaves and interior nodes hash under distinct prefixes (0x00, 0x01) so a node can never be
passed off as a leaf (second-preimage), as in sigstore-python's `merkle.py`.

Proofs are built from stored hashes of *aligned* complete subtrees: (level k, index i) is
the subtree over leaves [i·2^k, (i+1)·2^k), level 0 being the leaf hashes. `Frontier.append`
yields exactly the entries to store, and every proof needs O(log n) lookups, so nothing
rereads the log. (`root_from_leaf_hashes` hashes a million leaves in about a second.)
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# (level, index) -> hash of the aligned complete subtree over [index·2^level, (index+1)·2^level).
HashSource = Callable[[int, int], bytes]

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 §2.1, level by level.

    Promoting a level's odd last node unchanged gives the same tree as RFC 6962's split at
    the largest power of two below n: that node is the root of the right-edge subtree.
    """
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def aligned_nodes_completed_by(index: int) -> list[tuple[int, int]]:
    """The (level, index) subtrees that become complete when leaf `index` is appended."""
    if index < 0:
        raise ValueError("leaf index must be non-negative")
    # Level k completes when (index + 1) is a multiple of 2^k: one per trailing 1 bit, plus the leaf.
    return [(level, index >> level) for level in range(_trailing_ones(index) + 1)]


class Frontier:
    """The right edge of the tree (RFC 9162's compact range, a "mountain range").

    One perfect subtree root per 1 bit of `size`, highest first, so appending is O(log n)
    and the state is small enough to persist after every batch.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @property
    def size(self) -> int:
        return self._size

    @property
    def peaks(self) -> list[tuple[int, bytes]]:
        """(height, hash) of each right-edge subtree root, tallest (leftmost) first."""
        heights = [h for h in range(self._size.bit_length() - 1, -1, -1) if self._size >> h & 1]
        return list(zip(heights, self._hashes, strict=True))

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) subtrees it completes, to store."""
        _require_hash(leaf)
        index = self._size
        completed = [(0, index, leaf)]
        node = leaf
        for level in range(1, _trailing_ones(index) + 1):
            node = node_hash(self._hashes.pop(), node)
            completed.append((level, index >> level, node))
        self._hashes.append(node)
        self._size += 1
        return completed

    def root(self) -> bytes:
        if not self._hashes:
            return EMPTY_ROOT
        return _fold(self._hashes)

    def to_bytes(self) -> bytes:
        """size (8 bytes, big-endian) ‖ the peak hashes; heights follow from the size."""
        return struct.pack(">Q", self._size) + b"".join(self._hashes)

    @classmethod
    def from_bytes(cls, data: bytes) -> Frontier:
        data = bytes(data)
        if len(data) < 8:
            raise ValueError("frontier too short")
        (size,) = struct.unpack(">Q", data[:8])
        body = data[8:]
        if len(body) != HASH_SIZE * size.bit_count():
            raise ValueError("frontier length does not match its size")
        return cls._of(size, [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)])

    @classmethod
    def from_hash_source(cls, get: HashSource, size: int) -> Frontier:
        """Rebuild the frontier of a tree of `size` leaves from stored subtrees (log n lookups)."""
        if size < 0:
            raise ValueError("size must be non-negative")
        return cls._of(size, [get(level, start >> level) for level, start in _peaks(0, size)])

    @classmethod
    def _of(cls, size: int, hashes: list[bytes]) -> Frontier:
        frontier = cls()
        frontier._size = size
        frontier._hashes = hashes
        return frontier

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Frontier):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"Frontier(size={self._size})"


def subtree_hash(get: HashSource, start: int, end: int) -> bytes:
    """MTH(D[start:end]) from O(log n) stored aligned subtrees.

    Valid for the ranges RFC 9162 proofs and roots use: `start` a multiple of the smallest
    power of two >= end - start (any range with start = 0). Other ranges are not nodes of
    the tree and cannot be assembled from stored subtrees, so they raise ValueError.
    """
    if not 0 <= start <= end:
        raise ValueError("invalid range")
    size = end - start
    if size == 0:
        return EMPTY_ROOT
    if start % (1 << (size - 1).bit_length()):
        raise ValueError("range is not an RFC 6962 subtree")
    return _fold([get(level, first >> level) for level, first in _peaks(start, end)])


def inclusion_proof(get: HashSource, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1, nearest the leaf first."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            proof.append(subtree_hash(get, mid, end))
            end = mid
        else:
            proof.append(subtree_hash(get, start, mid))
            start = mid
    proof.reverse()
    return proof


def consistency_proof(get: HashSource, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1; empty if old_size is 0 or new_size."""
    if not 0 <= old_size <= new_size:
        raise ValueError("sizes out of order")
    if old_size in (0, new_size):
        return []
    proof: list[bytes] = []
    start, end = 0, new_size
    # SUBPROOF's flag b: still on the old tree's right edge, whose root the verifier holds.
    on_edge = True
    while old_size != end:
        mid = start + _split(end - start)
        if old_size <= mid:
            proof.append(subtree_hash(get, mid, end))
            end = mid
        else:
            proof.append(subtree_hash(get, start, mid))
            start = mid
            on_edge = False
    if not on_edge:
        proof.append(subtree_hash(get, start, end))
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2; False (never an exception) on any malformed input."""
    if not (_is_hash(leaf) and _is_hash(root) and _is_size(index) and _is_size(size) and _is_proof(proof)):
        return False
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2; False (never an exception) on any malformed input."""
    if not (_is_size(old_size) and _is_size(new_size) and _is_hash(old_root) and _is_hash(new_root)):
        return False
    if not _is_proof(proof) or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty one; there is nothing to prove.
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # A power-of-two old tree is itself a node of the new tree: the proof omits it.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _peaks(start: int, end: int) -> list[tuple[int, int]]:
    """(level, first leaf) of the aligned subtrees covering [start, end), largest first."""
    size = end - start
    peaks = []
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            peaks.append((level, start))
            start += 1 << level
    return peaks


def _fold(hashes: Sequence[bytes]) -> bytes:
    # RFC 6962 hangs each smaller right-edge subtree under the one to its left.
    node = hashes[-1]
    for left in reversed(hashes[:-1]):
        node = node_hash(left, node)
    return node


def _trailing_ones(n: int) -> int:
    return (n ^ (n + 1)).bit_length() - 1


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_proof(proof: object) -> bool:
    return isinstance(proof, Sequence) and not isinstance(proof, (bytes, str)) and all(map(_is_hash, proof))


def _require_hash(value: bytes) -> None:
    if not _is_hash(value):
        raise ValueError("expected a 32-byte SHA-256 hash")
