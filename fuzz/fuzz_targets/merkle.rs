//! RFC 6962/9162 proofs: verification never panics on any sizes, indices and hashes; proofs
//! built from a real tree verify, and changing any byte of the leaf, a proof hash or a root
//! makes them fail.
#![no_main]

use gavel_ledger::hash::{leaf_hash, Hash};
use gavel_ledger::merkle::{
    consistency_proof, inclusion_proof, root, verify_consistency, verify_inclusion, MemoryTree,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn hashes(u: &mut Unstructured) -> Result<Vec<Hash>> {
    let n = u.int_in_range(0..=70usize)?;
    (0..n).map(|_| u.arbitrary::<Hash>()).collect()
}

/// Arbitrary sizes and hashes: only "no panic" is expected.
fn raw(u: &mut Unstructured) -> Result<()> {
    let (leaf, index, size, root) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let proof = hashes(u)?;
    let _ = verify_inclusion(&leaf, index, size, &proof, &root);
    let (old, new, old_root, new_root) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
    let proof = hashes(u)?;
    let _ = verify_consistency(old, new, &old_root, &new_root, &proof);
    Ok(())
}

fn flip(h: &Hash, u: &mut Unstructured) -> Result<Hash> {
    let mut h = *h;
    let i = u.choose_index(h.len())?;
    h[i] ^= u.int_in_range(1..=255u8)?;
    Ok(h)
}

/// Real proofs from a tree of up to 300 distinct leaves.
fn real(u: &mut Unstructured) -> Result<()> {
    let n = u.int_in_range(1..=300u64)?;
    let mut tree = MemoryTree::new();
    let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    for l in &leaves {
        tree.push(*l);
    }
    let size = u.int_in_range(1..=n)?;
    let index = u.int_in_range(0..=size - 1)?;
    let r = root(&tree, size).expect("root");
    let proof = inclusion_proof(&tree, index, size).expect("inclusion proof");
    let leaf = leaves[index as usize];
    verify_inclusion(&leaf, index, size, &proof, &r).expect("a real inclusion proof verifies");
    match u.int_in_range(0..=2u8)? {
        0 => assert!(verify_inclusion(&flip(&leaf, u)?, index, size, &proof, &r).is_err()),
        1 => assert!(verify_inclusion(&leaf, index, size, &proof, &flip(&r, u)?).is_err()),
        _ if !proof.is_empty() => {
            let mut bad = proof.clone();
            let i = u.choose_index(bad.len())?;
            bad[i] = flip(&bad[i], u)?;
            assert!(verify_inclusion(&leaf, index, size, &bad, &r).is_err());
        }
        _ => {}
    }

    let old = u.int_in_range(0..=size)?;
    let old_root = root(&tree, old).expect("old root");
    let proof = consistency_proof(&tree, old, size).expect("consistency proof");
    verify_consistency(old, size, &old_root, &r, &proof).expect("a real consistency proof verifies");
    match u.int_in_range(0..=2u8)? {
        0 => assert!(verify_consistency(old, size, &flip(&old_root, u)?, &r, &proof).is_err()),
        // Every tree extends the empty one, whatever its root.
        1 if old != 0 => assert!(verify_consistency(old, size, &old_root, &flip(&r, u)?, &proof).is_err()),
        _ if !proof.is_empty() => {
            let mut bad = proof.clone();
            let i = u.choose_index(bad.len())?;
            bad[i] = flip(&bad[i], u)?;
            assert!(verify_consistency(old, size, &old_root, &r, &bad).is_err());
        }
        _ => {}
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.arbitrary::<bool>() {
        Ok(true) => real(&mut u),
        _ => raw(&mut u),
    };
});
