//! Row keys: what makes two rows of a table the same row.
//!
//! The state keeps 128-bit digests of keys, not the keys, so that remembering every stored row
//! of a large warehouse costs 16 bytes a row.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use prov9_model::tables::*;
use ring::digest::{Context, SHA256};

/// A 128-bit digest of a row key.
pub type KeyDigest = u128;

/// A set of digests, which are uniformly distributed already: their own low bits are the hash.
pub type DigestSet = HashSet<KeyDigest, BuildHasherDefault<DigestHasher>>;

/// Takes a [`KeyDigest`]'s low 64 bits as its hash.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, digest: u128) {
        self.0 = digest as u64;
    }

    /// Only digests are hashed with it; anything else still hashes (bytes folded in, FNV style).
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

pub fn digest(parts: &[&str]) -> KeyDigest {
    let mut h = Context::new(&SHA256);
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let out = h.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&out.as_ref()[..16]);
    u128::from_le_bytes(bytes)
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("\u{0}")
}

pub trait Keyed {
    fn key(&self) -> KeyDigest;
}

impl Keyed for EventRow {
    fn key(&self) -> KeyDigest {
        digest(&[&self.event_id])
    }
}
impl Keyed for TransformationRow {
    fn key(&self) -> KeyDigest {
        digest(&[
            &self.run_id,
            &self.step.map(|s| s.to_string()).unwrap_or_default(),
            &self.name,
        ])
    }
}
impl Keyed for MetricRow {
    fn key(&self) -> KeyDigest {
        digest(&[
            &self.run_id,
            opt(&self.model_version_id),
            opt(&self.dataset_version_id),
            &self.key,
            &self.step.map(|s| s.to_string()).unwrap_or_default(),
            &self.timestamp.timestamp_micros().to_string(),
        ])
    }
}
impl Keyed for DeploymentRow {
    fn key(&self) -> KeyDigest {
        digest(&[&self.deployment_id])
    }
}
impl Keyed for LineageEdgeRow {
    fn key(&self) -> KeyDigest {
        digest(&[&self.src, &self.dst, &self.edge_type])
    }
}
impl Keyed for QualityCheckRow {
    fn key(&self) -> KeyDigest {
        digest(&[
            &self.dataset_version_id,
            opt(&self.run_id),
            &self.assertion,
            opt(&self.check_name),
            opt(&self.column_name),
            opt(&self.expected),
        ])
    }
}
impl Keyed for ColumnLineageRow {
    fn key(&self) -> KeyDigest {
        digest(&[
            &self.src_dataset_version,
            &self.src_column,
            &self.dst_dataset_version,
            &self.dst_column,
        ])
    }
}
