"""RFC 6962 Merkle tree: the Certificate Transparency reference vectors (as published in
transparency-dev/merkle proof/verify_test.go and the earlier trillian/CT test data), and inclusion and
consistency proofs for every size and index up to 64, each checked to fail when altered."""

from __future__ import annotations

import hashlib

import pytest

from forge_tui.core.merkle import (
    EMPTY_ROOT,
    CompactTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

LEAF_DATA = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
# Published roots of the trees over the first 1..8 leaves.
ROOTS = [
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
EMPTY_TREE = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

# Published inclusion proofs: (0-based leaf index, tree size, audit path).
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
# Published consistency proofs: (old size, new size, proof).
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

LEAVES = [leaf_hash(d) for d in LEAF_DATA]


def test_hash_primitives_use_rfc6962_prefixes():
    assert EMPTY_ROOT == EMPTY_TREE
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    a, b = b"\x11" * 32, b"\x22" * 32
    assert node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()
    assert node_hash(a, b) != node_hash(b, a)


def test_empty_tree():
    assert root_from_leaves([]) == EMPTY_TREE
    assert CompactTree().root() == EMPTY_TREE


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size):
    assert root_from_leaves(LEAVES[:size]) == ROOTS[size - 1]


def test_compact_tree_gives_every_intermediate_root():
    t = CompactTree()
    for i, leaf in enumerate(LEAVES):
        t.append(leaf)
        assert t.size == i + 1
        assert t.root() == ROOTS[i]
    c = t.copy()
    c.append(leaf_hash(b"more"))
    assert t.root() == ROOTS[7] and c.root() != ROOTS[7]


@pytest.mark.parametrize("index,size,proof", INCLUSION)
def test_reference_inclusion_proofs(index, size, proof):
    path = [h(p) for p in proof]
    assert inclusion_proof(LEAVES[:size], index) == path
    assert root_from_inclusion(index, size, LEAVES[index], path) == ROOTS[size - 1]
    verify_inclusion(index, size, LEAVES[index], path, ROOTS[size - 1])


@pytest.mark.parametrize("old,new,proof", CONSISTENCY)
def test_reference_consistency_proofs(old, new, proof):
    path = [h(p) for p in proof]
    assert consistency_proof(LEAVES[:new], old) == path
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], path)


# ---- every size and index up to 64 ----------------------------------------------------------------

N = 64
BIG = [leaf_hash(i.to_bytes(2, "big") * (i % 5 + 1)) for i in range(N)]
BIG_ROOTS = [EMPTY_ROOT] + [root_from_leaves(BIG[:n]) for n in range(1, N + 1)]


def _naive_root(leaves):
    """Straight from the RFC 6962 §2.1 definition (recursion at the largest power of two below n)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(_naive_root(leaves[:k]), _naive_root(leaves[k:]))


def test_roots_agree_with_the_definition_for_all_sizes():
    for n in range(N + 1):
        assert BIG_ROOTS[n] == _naive_root(BIG[:n]), n


def _flip(b: bytes, bit: int = 0) -> bytes:
    return bytes([b[0] ^ (1 << bit)]) + b[1:]


def _inclusion_fails(index, size, leaf, proof, root) -> bool:
    try:
        verify_inclusion(index, size, leaf, proof, root)
    except ProofError:
        return True
    return False


@pytest.mark.parametrize("size", range(1, N + 1))
def test_inclusion_every_index(size):
    leaves = BIG[:size]
    root = BIG_ROOTS[size]
    other = b"\xab" * 32
    for index in range(size):
        proof = inclusion_proof(leaves, index)
        verify_inclusion(index, size, leaves[index], proof, root)
        # Alterations, after transparency-dev/merkle's probes: each must fail.
        probes = [
            (index, size, _flip(leaves[index]), proof, root),
            (index, size, leaves[index], proof, _flip(root)),
            (index, size, leaves[index], proof, EMPTY_ROOT),
            (index, size, leaves[index], proof + [other], root),
            (index, size, leaves[index], [other] + proof, root),
            (index, size, leaves[index], proof + [root], root),
            (index, size * 2, leaves[index], proof, root),
        ]
        if index ^ 1 < size:  # the sibling's position: the first hash is combined the other way round
            probes.append((index ^ 1, size, leaves[index], proof, root))
        if proof:
            probes.append((index, size, leaves[index], proof[:-1], root))
            for i in range(len(proof)):
                bad = list(proof)
                bad[i] = _flip(bad[i], 3)
                probes.append((index, size, leaves[index], bad, root))
        for p in probes:
            assert _inclusion_fails(*p), (index, size, p[:2])


def test_a_proof_does_not_authenticate_the_tree_size():
    """Why the probes above alter the size only by doubling it: positions whose audit paths have the same
    shape give the same root (index 0 in trees of 3 and 4 leaves), so RFC 9162 verification cannot tell
    them apart. The size is authenticated by the signed checkpoint, which verify checks separately."""
    proof3 = inclusion_proof(BIG[:3], 0)
    verify_inclusion(0, 4, BIG[0], proof3, BIG_ROOTS[3])
    assert inclusion_proof(BIG[:4], 0) != proof3


def test_inclusion_out_of_range():
    with pytest.raises(ProofError):
        inclusion_proof(BIG[:4], 4)
    with pytest.raises(ProofError):
        inclusion_proof([], 0)
    with pytest.raises(ProofError):
        root_from_inclusion(5, 5, BIG[0], [])
    with pytest.raises(ProofError):
        root_from_inclusion(-1, 5, BIG[0], [])


def _consistency_fails(old, new, r1, r2, proof) -> bool:
    try:
        verify_consistency(old, new, r1, r2, proof)
    except ProofError:
        return True
    return False


@pytest.mark.parametrize("new", range(1, N + 1))
def test_consistency_every_pair(new):
    r2 = BIG_ROOTS[new]
    for old in range(0, new + 1):
        r1 = BIG_ROOTS[old]
        proof = consistency_proof(BIG[:new], old)
        verify_consistency(old, new, r1, r2, proof)
        if old in (0, new):
            assert proof == []
            continue
        probes = [
            (old, new, _flip(r1), r2, proof),
            (old, new, r1, _flip(r2), proof),
            (old, new, r2, r1, proof),
            (old, new, r1, r2, []),
            (old, new, r1, r2, proof[:-1]),
            (old, new, r1, r2, proof + [r1]),
            (old, new, r1, r2, proof + [r2]),
            (old, new, r1, r2, [r1] + proof),
            (old, new, r1, r2, [proof[0]] + proof),
            (old, new * 2, r1, r2, proof),
            (old - 1, new, r1, r2, proof),
            (old + 1, new, r1, r2, proof),
            (old, new, BIG_ROOTS[old - 1], r2, proof),
        ]
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = _flip(bad[i], 4)
            probes.append((old, new, r1, r2, bad))
        for p in probes:
            assert _consistency_fails(*p), (old, new, p[:2])


def test_consistency_edge_cases():
    r = BIG_ROOTS[5]
    verify_consistency(0, 5, EMPTY_ROOT, r, [])  # everything extends the empty tree
    verify_consistency(5, 5, r, r, [])
    with pytest.raises(ProofError):
        verify_consistency(5, 5, r, BIG_ROOTS[4], [])  # same size, different root: a fork
    with pytest.raises(ProofError):
        verify_consistency(5, 5, r, r, [r])
    with pytest.raises(ProofError):
        verify_consistency(0, 5, EMPTY_ROOT, r, [r])
    with pytest.raises(ProofError):
        verify_consistency(6, 5, BIG_ROOTS[6], r, [r])  # time travel
    with pytest.raises(ProofError):
        consistency_proof(BIG[:5], 6)


def test_a_rewritten_history_has_no_consistency_proof():
    """A log that changed one old leaf cannot prove it extends its earlier checkpoint."""
    forked = list(BIG[:20])
    forked[3] = leaf_hash(b"rewritten")
    proof = consistency_proof(forked, 10)
    with pytest.raises(ProofError):
        verify_consistency(10, 20, BIG_ROOTS[10], root_from_leaves(forked), proof)
