//! Official RFC 6962 Merkle tree test vectors, checked against `gavel_ledger::merkle`.
//!
//! Data copied from github.com/transparency-dev/merkle (Apache-2.0):
//! * `testonly/constants.go`: `LeafInputs`, `NodeHashes`, `RootHashes`;
//! * `proof/verify_test.go`: `inclusionProofs`, `consistencyProofs` and the corruption probes of
//!   `corruptInclusionProof` / `corruptConsistencyProof` / `TestVerifyConsistency`.
//!
//! The same vectors are `kInputs`, `kSHA256Roots`, `kSHA256Paths` and `kSHA256Proofs` of
//! google/certificate-transparency `cpp/merkletree/merkle_tree_test.cc`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the test failing

use gavel_ledger::hash::{empty_root, from_hex, leaf_hash, Hash};
use gavel_ledger::merkle::{
    consistency_proof, inclusion_proof, root, subtree_hash, verify_consistency, verify_inclusion, Frontier,
    MemoryTree,
};

/// `LeafInputs()`, in hex.
const LEAF_INPUTS: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// `NodeHashes()`: hashes of every complete subtree of the 8-leaf tree, by level then index.
const NODE_HASHES: [&[&str]; 4] = [
    &[
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    &[
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    &[
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
];

/// `RootHashes()`: the root of the tree of the first `n` leaves, for n = 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// `inclusionProofs`: (leaf, size, proof). The source numbers leaves from 1; the 0-based index
/// is `leaf - 1`. Its `{0, 0, nil}` entry is documented there as an invalid path and is covered by
/// `invalid_inclusion_inputs` instead.
const INCLUSION: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (3, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        2,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// `consistencyProofs`: (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

/// `sha256SomeHash` of verify_test.go: an arbitrary hash that is no node of the tree.
const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn h(s: &str) -> Hash {
    from_hex(s).unwrap_or_else(|| panic!("bad test vector {s:?}"))
}

fn hs(v: &[&str]) -> Vec<Hash> {
    v.iter().map(|s| h(s)).collect()
}

fn reference_tree() -> MemoryTree {
    let mut t = MemoryTree::new();
    for input in LEAF_INPUTS {
        t.push(leaf_hash(&hex::decode(input).unwrap()));
    }
    t
}

#[test]
fn leaf_and_subtree_hashes() {
    let t = reference_tree();
    for (i, input) in LEAF_INPUTS.iter().enumerate() {
        assert_eq!(leaf_hash(&hex::decode(input).unwrap()), h(NODE_HASHES[0][i]), "leaf {i}");
    }
    for (level, hashes) in NODE_HASHES.iter().enumerate() {
        for (index, want) in hashes.iter().enumerate() {
            assert_eq!(subtree_hash(&t, level as u32, index as u64).unwrap(), h(want), "{level}/{index}");
        }
    }
}

#[test]
fn roots_of_every_prefix() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    let full = reference_tree();
    let mut growing = MemoryTree::new();
    let mut frontier = Frontier::new();
    for (n, want) in ROOTS.iter().enumerate() {
        let want = h(want);
        assert_eq!(root(&full, n as u64).unwrap(), want, "root({n})");
        assert_eq!(growing.root(), want, "MemoryTree at {n}");
        assert_eq!(frontier.root(), want, "Frontier at {n}");
        assert_eq!(Frontier::from_source(&full, n as u64).unwrap().root(), want, "from_source({n})");
        if let Some(input) = LEAF_INPUTS.get(n) {
            let leaf = leaf_hash(&hex::decode(input).unwrap());
            growing.push(leaf);
            frontier.push(leaf);
        }
    }
}

#[test]
fn inclusion_proofs_match_and_verify() {
    let t = reference_tree();
    for (leaf, size, want) in INCLUSION {
        let index = leaf - 1;
        let want = hs(want);
        assert_eq!(inclusion_proof(&t, index, size).unwrap(), want, "proof of leaf {index} in {size}");
        let leaf_hash = h(NODE_HASHES[0][index as usize]);
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaf_hash, index, size, &want, &root).unwrap();
        for (probe, p) in corrupt_inclusion(index, size, &want, &root, &leaf_hash) {
            let ok = verify_inclusion(&p.leaf, p.index, p.size, &p.proof, &p.root).is_ok();
            assert!(!ok, "leaf {index} of {size}: {probe} verified");
        }
    }
}

#[test]
fn consistency_proofs_match_and_verify() {
    let t = reference_tree();
    for (old, new, want) in CONSISTENCY {
        let want = hs(want);
        assert_eq!(consistency_proof(&t, old, new).unwrap(), want, "proof {old} -> {new}");
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(old, new, &r1, &r2, &want).unwrap();
        if want.is_empty() {
            continue; // the source only corrupts non-trivial proofs
        }
        for (probe, p) in corrupt_consistency(old, new, &r1, &r2, &want) {
            let ok = verify_consistency(p.old, p.new, &p.r1, &p.r2, &p.proof).is_ok();
            assert!(!ok, "{old} -> {new}: {probe} verified");
        }
    }
}

#[test]
fn invalid_inclusion_inputs() {
    // `TestVerifyInclusion` probes: index >= size, with any leaf and root.
    let (some, empty) = (h(SOME_HASH), empty_root());
    for (index, size) in [(0, 0), (1, 0), (1, 1), (2, 1)] {
        assert!(verify_inclusion(&some, index, size, &[], &empty).is_err());
        assert!(verify_inclusion(&empty, index, size, &[], &some).is_err());
    }
    // `TestVerifyInclusionSingleEntry`: in a 1-leaf tree the root is the leaf hash.
    let data = leaf_hash(b"data");
    verify_inclusion(&data, 0, 1, &[], &data).unwrap();
    assert!(verify_inclusion(&data, 0, 1, &[], &some).is_err());
    assert!(verify_inclusion(&some, 0, 1, &[], &data).is_err());
    // And the generator refuses the same inputs.
    let t = reference_tree();
    assert!(inclusion_proof(&t, 0, 0).is_err());
    assert!(inclusion_proof(&t, 8, 8).is_err());
    assert!(inclusion_proof(&t, 0, 9).is_err());
}

#[test]
fn consistency_edge_cases() {
    // `TestVerifyConsistency` table (roots that are "don't care" there are concrete hashes here).
    let (a, b, e) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"), empty_root());
    assert!(verify_consistency(0, 0, &e, &b, &[]).is_err());
    assert!(verify_consistency(1, 1, &a, &b, &[]).is_err());
    assert!(verify_consistency(0, 0, &e, &e, &[]).is_ok());
    assert!(verify_consistency(0, 1, &e, &b, &[]).is_ok());
    assert!(verify_consistency(1, 1, &b, &b, &[]).is_ok());
    // Time travel to the past.
    assert!(verify_consistency(1, 0, &a, &b, &[]).is_err());
    assert!(verify_consistency(2, 1, &a, &b, &[]).is_err());
    // Empty proof between different sizes.
    assert!(verify_consistency(1, 2, &a, &b, &[]).is_err());
    // Roots match but the proof is not empty.
    assert!(verify_consistency(0, 0, &e, &e, &[e]).is_err());
    assert!(verify_consistency(0, 1, &e, &e, &[e]).is_err());
    assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    // Stricter than verify_test.go, which accepts any old root for size 0: ours must be the
    // empty tree's root.
    assert!(verify_consistency(0, 1, &a, &b, &[]).is_err());

    let t = reference_tree();
    assert!(consistency_proof(&t, 6, 3).is_err());
    assert!(consistency_proof(&t, 3, 9).is_err());
}

struct InclusionProbe {
    index: u64,
    size: u64,
    leaf: Hash,
    proof: Vec<Hash>,
    root: Hash,
}

/// `corruptInclusionProof` of verify_test.go, minus the probes that only make sense for
/// variable-length byte strings (our hashes are always 32 bytes).
fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
    leaf: &Hash,
) -> Vec<(String, InclusionProbe)> {
    let probe = |index, size, leaf: &Hash, proof: Vec<Hash>, root: &Hash| InclusionProbe {
        index,
        size,
        leaf: *leaf,
        proof,
        root: *root,
    };
    let (some, empty) = (h(SOME_HASH), empty_root());
    let wrong_leaf = leaf_hash(b"WrongLeaf");
    let p = proof.to_vec();
    let mut out = vec![
        ("index - 1".to_string(), probe(index.wrapping_sub(1), size, leaf, p.clone(), root)),
        ("index + 1".into(), probe(index + 1, size, leaf, p.clone(), root)),
        ("index ^ 2".into(), probe(index ^ 2, size, leaf, p.clone(), root)),
        ("size * 2".into(), probe(index, size * 2, leaf, p.clone(), root)),
        ("size / 2".into(), probe(index, size / 2, leaf, p.clone(), root)),
        ("wrong leaf".into(), probe(index, size, &wrong_leaf, p.clone(), root)),
        ("empty root".into(), probe(index, size, leaf, p.clone(), &empty)),
        ("random root".into(), probe(index, size, leaf, p.clone(), &some)),
        ("trailing root".into(), probe(index, size, leaf, [&p[..], &[*root]].concat(), root)),
        ("preceding root".into(), probe(index, size, leaf, [&[*root], &p[..]].concat(), root)),
    ];
    for i in 0..p.len() {
        let mut bad = p.clone();
        bad[i][0] ^= 8;
        out.push((format!("modified proof[{i}] bit 3"), probe(index, size, leaf, bad, root)));
    }
    if let Some((_, shorter)) = p.split_last() {
        out.push(("removed component".into(), probe(index, size, leaf, shorter.to_vec(), root)));
    }
    if p.len() > 1 {
        let inserted = [&[p[0], some], &p[1..]].concat();
        out.push(("inserted component".into(), probe(index, size, leaf, inserted, root)));
    }
    out
}

struct ConsistencyProbe {
    old: u64,
    new: u64,
    r1: Hash,
    r2: Hash,
    proof: Vec<Hash>,
}

/// `corruptConsistencyProof` of verify_test.go, minus the byte-string-only probes.
fn corrupt_consistency(
    old: u64,
    new: u64,
    r1: &Hash,
    r2: &Hash,
    proof: &[Hash],
) -> Vec<(String, ConsistencyProbe)> {
    let probe = |old, new, r1: &Hash, r2: &Hash, proof: Vec<Hash>| ConsistencyProbe {
        old,
        new,
        r1: *r1,
        r2: *r2,
        proof,
    };
    let wrong = leaf_hash(b"WrongRoot");
    let p = proof.to_vec();
    let mut out = vec![
        ("old - 1".to_string(), probe(old - 1, new, r1, r2, p.clone())),
        ("old + 1".into(), probe(old + 1, new, r1, r2, p.clone())),
        ("old ^ 2".into(), probe(old ^ 2, new, r1, r2, p.clone())),
        ("new * 2".into(), probe(old, new * 2, r1, r2, p.clone())),
        ("new / 2".into(), probe(old, new / 2, r1, r2, p.clone())),
        ("wrong old root".into(), probe(old, new, &wrong, r2, p.clone())),
        ("wrong new root".into(), probe(old, new, r1, &wrong, p.clone())),
        ("swapped roots".into(), probe(old, new, r2, r1, p.clone())),
        ("empty proof".into(), probe(old, new, r1, r2, Vec::new())),
        ("trailing old root".into(), probe(old, new, r1, r2, [&p[..], &[*r1]].concat())),
        ("trailing new root".into(), probe(old, new, r1, r2, [&p[..], &[*r2]].concat())),
        ("preceding old root".into(), probe(old, new, r1, r2, [&[*r1], &p[..]].concat())),
        ("preceding new root".into(), probe(old, new, r1, r2, [&[*r2], &p[..]].concat())),
        ("preceding proof[0]".into(), probe(old, new, r1, r2, [&[p[0]], &p[..]].concat())),
        ("truncated proof".into(), probe(old, new, r1, r2, p[..p.len() - 1].to_vec())),
    ];
    for i in 0..p.len() {
        let mut bad = p.clone();
        bad[i][0] ^= 16;
        out.push((format!("modified proof[{i}] bit 4"), probe(old, new, r1, r2, bad)));
    }
    out
}
