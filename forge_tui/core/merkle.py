"""RFC 6962 / RFC 9162 Merkle tree hashes, inclusion and consistency proofs.

leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), split at the largest power of two
below n, empty tree = SHA-256(""). `CompactTree` keeps the O(log n) frontier an append-only log needs
to compute its root after every batch without rehashing the whole tree.
"""

from __future__ import annotations

import hashlib
import struct
from collections import deque
from collections.abc import Sequence
from itertools import repeat

from forge_tui.errors import ForgeError

EMPTY_ROOT = hashlib.sha256(b"").digest()
# Copying a hash object already fed the one-byte prefix costs less than making a new one (OpenSSL
# looks the algorithm up on each) and saves copying every input behind the prefix.
_HASH = type(hashlib.sha256())
_LEAF_PREFIX, _NODE_PREFIX = hashlib.sha256(b"\x00"), hashlib.sha256(b"\x01")
_drain = deque(maxlen=0).extend  # runs an iterator of C calls to its end, keeping nothing


def _hash_all(prefixed, items) -> bytes:
    """SHA-256(prefix ‖ item) of each item, joined; `prefixed`: a hash object fed the prefix."""
    hs = list(map(_HASH.copy, repeat(prefixed, len(items))))
    _drain(map(_HASH.update, hs, items))
    return b"".join(map(_HASH.digest, hs))


def leaf_hashes(lines: Sequence[bytes]) -> bytes:
    """The leaf hash of each line, joined (32 bytes each)."""
    return _hash_all(_LEAF_PREFIX, lines)


class ProofError(ForgeError):
    exit_code = 1


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """The tree head over already-hashed leaves, level by level (fine for millions of leaves): an odd
    node at the end of a level moves up unchanged, which gives the same tree as splitting at the
    largest power of two."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    sha256 = hashlib.sha256
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        it = iter(level)
        level = [sha256(b"\x01" + a + b).digest() for a, b in zip(it, it, strict=False)]
        if odd is not None:
            level.append(odd)
    return level[0]


def subtree_runs(first: int, leaves: bytes) -> list[tuple[int, bytes]]:
    """The perfect, aligned subtrees lying wholly inside leaves [first, first + n) (`leaves`: n
    32-byte hashes joined), level by level: element L is (index of its first level-L node, the nodes
    joined), where level-L node j covers leaves [j·2^L, (j+1)·2^L). Level 0 is the leaves themselves.
    What a verify worker computes for its range; `PerfectLevels.extend` puts the ranges together."""
    runs = [(first, leaves)]
    start, blob = first, leaves
    while len(blob) >= 64:
        skip = 32 * (start & 1)  # an odd first node pairs with one outside the range
        pairs = (len(blob) - skip) // 64
        if not pairs:
            break
        # The 64-byte pairs of siblings, cut out of the level in one call.
        blob = _hash_all(_NODE_PREFIX, struct.unpack_from("64s" * pairs, blob, skip))
        start = (start + 1) // 2
        runs.append((start, blob))
    return runs


class PerfectLevels:
    """Every perfect, aligned subtree root of a leaf sequence, built from consecutive ranges: the
    root of any prefix is then O(log n) node hashes (RFC 6962: the prefix [0, k) splits into the
    aligned perfect subtrees of k's set bits, folded from the right)."""

    def __init__(self) -> None:
        self.levels: list[bytearray] = [bytearray()]  # level L: floor(size / 2^L) nodes, 32 bytes each

    @property
    def size(self) -> int:
        return len(self.levels[0]) // 32

    def extend(self, runs: list[tuple[int, bytes]]) -> None:
        """Append the next range: `runs` as `subtree_runs` gives it for leaves starting at `size`."""
        if runs[0][0] != self.size:
            raise ValueError(f"range starts at leaf {runs[0][0]}, not at {self.size}")
        self.levels[0] += runs[0][1]
        level = 1
        while len(self.levels[level - 1]) >= 64:
            if level == len(self.levels):
                self.levels.append(bytearray())
            below, here = self.levels[level - 1], self.levels[level]
            run = runs[level] if level < len(runs) else None
            want = len(below) // 64
            while len(here) // 32 < want:
                j = len(here) // 32
                if run is not None and run[0] == j:
                    here += run[1]
                    run = None
                else:
                    here += node_hash(
                        bytes(below[64 * j : 64 * j + 32]), bytes(below[64 * j + 32 : 64 * j + 64])
                    )
            level += 1

    def node(self, level: int, index: int) -> bytes:
        return bytes(self.levels[level][32 * index : 32 * index + 32])

    def root(self, k: int) -> bytes:
        """The root of leaves [0, k), k <= size."""
        if not 0 <= k <= self.size:
            raise ValueError(f"size {k} is outside 0..{self.size}")
        if k == 0:
            return EMPTY_ROOT
        nodes, offset = [], 0
        for level in range(k.bit_length() - 1, -1, -1):
            if k >> level & 1:
                nodes.append(self.node(level, offset >> level))
                offset += 1 << level
        acc = nodes.pop()
        while nodes:
            acc = node_hash(nodes.pop(), acc)
        return acc


def _subtree_root(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(_subtree_root(leaves, lo, lo + k), _subtree_root(leaves, lo + k, hi))


class CompactTree:
    """An append-only Merkle tree frontier: the roots of the perfect subtrees, largest first."""

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        self._stack.append(leaf)
        self.size += 1
        n = self.size
        # Merge while the lowest bits say two perfect subtrees of equal size sit on top.
        while n & 1 == 0:
            right = self._stack.pop()
            left = self._stack.pop()
            self._stack.append(node_hash(left, right))
            n >>= 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        acc = self._stack[-1]
        for h in reversed(self._stack[:-1]):
            acc = node_hash(h, acc)
        return acc

    def copy(self) -> CompactTree:
        c = CompactTree()
        c.size = self.size
        c._stack = list(self._stack)
        return c

    def frontier(self) -> list[bytes]:
        """The roots of the perfect subtrees, largest first: one per set bit of `size` (RFC 6962's
        compact range of [0, size)). With the size it is all `append` and `root` need."""
        return list(self._stack)

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> CompactTree:
        """The tree whose `frontier()` this was. Raises ProofError if the hash count does not match the
        size (one hash per set bit) or a hash is not 32 bytes; that the hashes are the right ones only
        a comparison of `root()` with a signed root can tell."""
        if size < 0 or len(frontier) != size.bit_count():
            raise ProofError(f"a compact range of {size} leaves needs {max(size, 0).bit_count()} hashes")
        if any(len(h) != 32 for h in frontier):
            raise ProofError("a compact range hash is not 32 bytes")
        c = cls()
        c.size = size
        c._stack = list(frontier)
        return c


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """RFC 6962 audit path for leaf `index` in the tree over `leaves` (hashed)."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ProofError(f"leaf index {index} is outside a tree of size {n}")
    path: list[bytes] = []
    lo, hi = 0, n
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            path.append(_subtree_root(leaves, lo + k, hi))
            hi = lo + k
        else:
            path.append(_subtree_root(leaves, lo, lo + k))
            lo = lo + k
    path.reverse()
    return path


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root implied by an inclusion proof."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not match the root")


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """RFC 6962 §2.1.2 consistency proof from a tree of `old_size` leaves to one over all `leaves`."""
    n = len(leaves)
    if not 0 <= old_size <= n:
        raise ProofError(f"old size {old_size} is outside 0..{n}")
    if old_size in (0, n):
        return []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        size = hi - lo
        if m == size:
            return [] if complete else [_subtree_root(leaves, lo, hi)]
        k = _split(size)
        if m <= k:
            return subproof(m, lo, lo + k, complete) + [_subtree_root(leaves, lo + k, hi)]
        return subproof(m - k, lo + k, hi, False) + [_subtree_root(leaves, lo, lo + k)]

    return subproof(old_size, 0, n, True)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises ProofError unless the proof links the two tree heads."""
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("proof must be empty for equal sizes")
        if old_root != new_root:
            raise ProofError("equal sizes with different roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("proof must be empty from an empty tree")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not match the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not match the new root")
