//! Value encoding for redb: one version byte, then rmp-serde (named fields, so adding an
//! optional field stays readable by older code paths and migrations can reason about shapes).

use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Result, StoreError};

/// Version byte written before every value of schema 1.
pub const V1: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![V1];
    rmp_serde::encode::write_named(&mut out, value).map_err(StoreError::internal)?;
    Ok(out)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&V1, rest)) => rmp_serde::from_slice(rest)
            .map_err(|e| StoreError::Corrupt(format!("undecodable record: {e}"))),
        Some((v, _)) => Err(StoreError::Corrupt(format!(
            "record version {v} is not understood by this build"
        ))),
        None => Err(StoreError::Corrupt("empty record".into())),
    }
}
