//! The Merkle-tree reads both stores answer the same way: a root, a frontier, an inclusion or a
//! consistency proof at a tree size, computed from the backend's stored nodes.
//!
//! Invariant: no tree size beyond the committed head is ever read (the nodes past it may belong
//! to a batch still in flight, or not exist), and a root at the head's own size is the head's,
//! with no read at all. The bounds and their errors are checked here once, for both backends.

use crate::{Head, Store, StoreError};
use gavel_ledger::hash::Hash;
use gavel_ledger::merkle::{self, Frontier, NodeSource};
use gavel_ledger::LedgerError;

/// A store whose stored Merkle nodes can be read through a [`NodeSource`].
pub(crate) trait StoredNodes: Store {
    /// Runs `read` over the backend's stored nodes (a pooled read connection).
    fn read_nodes<T>(
        &self,
        read: impl FnOnce(&dyn NodeSource) -> Result<T, LedgerError>,
    ) -> Result<T, StoreError>;
}

fn beyond(size: u64, head: &Head) -> StoreError {
    StoreError::Invalid(format!("tree size {size} is beyond the log size {}", head.size))
}

pub(crate) fn root_at(store: &impl StoredNodes, size: u64) -> Result<Hash, StoreError> {
    let head = store.head()?;
    if size > head.size {
        return Err(beyond(size, &head));
    }
    if size == head.size {
        return Ok(head.root);
    }
    store.read_nodes(|nodes| merkle::root(nodes, size))
}

pub(crate) fn frontier_at(store: &impl StoredNodes, size: u64) -> Result<Frontier, StoreError> {
    let head = store.head()?;
    if size > head.size {
        return Err(beyond(size, &head));
    }
    store.read_nodes(|nodes| Frontier::from_source(nodes, size))
}

pub(crate) fn inclusion_proof(
    store: &impl StoredNodes,
    seq: u64,
    size: u64,
) -> Result<Vec<Hash>, StoreError> {
    let head = store.head()?;
    if size > head.size || seq >= size {
        return Err(StoreError::Invalid(format!(
            "no inclusion proof for seq {seq} in a tree of size {size} (log size {})",
            head.size
        )));
    }
    store.read_nodes(|nodes| merkle::inclusion_proof(nodes, seq, size))
}

pub(crate) fn consistency_proof(
    store: &impl StoredNodes,
    old_size: u64,
    new_size: u64,
) -> Result<Vec<Hash>, StoreError> {
    let head = store.head()?;
    if new_size > head.size || old_size > new_size {
        return Err(StoreError::Invalid(format!(
            "no consistency proof from size {old_size} to {new_size} (log size {})",
            head.size
        )));
    }
    store.read_nodes(|nodes| merkle::consistency_proof(nodes, old_size, new_size))
}
