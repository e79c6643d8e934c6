//! Access keys → principals. The foundation has one: the bootstrap admin credential.

use redb::{ReadableDatabase, ReadableTable};

use crate::codec;
use crate::error::Result;
use crate::model::{CredentialRecord, Principal};
use crate::tables::CREDENTIALS;
use crate::{Store, StoreError};

const ALNUM_UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], n: usize) -> Result<String> {
    let mut raw = vec![0u8; n];
    getrandom::fill(&mut raw).map_err(|e| StoreError::Internal(format!("no randomness: {e}")))?;
    // 256 is a multiple of 64 and the bias for 36 symbols is irrelevant for a key id.
    Ok(raw
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

impl Store {
    /// Creates the bootstrap admin credential if no credential exists yet. Returns the new
    /// (access key, secret) pair exactly once; later calls return `None`.
    pub async fn ensure_bootstrap_admin(&self) -> Result<Option<(String, String)>> {
        let access = format!("GH{}", random_string(ALNUM_UPPER, 18)?);
        let secret = random_string(SECRET_CHARS, 40)?;
        let rec = CredentialRecord {
            secret_key: secret.clone(),
            user_id: "admin".into(),
            name: "admin".into(),
            admin: true,
        };
        let a = access.clone();
        self.inner
            .committer
            .write(move |txn| {
                let mut t = txn.open_table(CREDENTIALS)?;
                if t.iter()?.next().is_some() {
                    return Ok(None);
                }
                t.insert(a.as_str(), codec::encode(&rec)?.as_slice())?;
                Ok(Some((a, secret)))
            })
            .await
    }

    /// Adds a credential (tests and the identity issue's user registration use it).
    pub async fn put_credential(&self, access_key: &str, rec: CredentialRecord) -> Result<()> {
        let a = access_key.to_string();
        self.inner
            .committer
            .write(move |txn| {
                let mut t = txn.open_table(CREDENTIALS)?;
                t.insert(a.as_str(), codec::encode(&rec)?.as_slice())?;
                Ok(())
            })
            .await
    }

    /// The secret and principal of an access key.
    pub fn lookup_credential(&self, access_key: &str) -> Result<Option<(String, Principal)>> {
        let txn = self.db().begin_read()?;
        let t = txn.open_table(CREDENTIALS)?;
        let Some(v) = t.get(access_key)? else {
            return Ok(None);
        };
        let rec: CredentialRecord = codec::decode(v.value())?;
        Ok(Some((
            rec.secret_key,
            Principal {
                user_id: rec.user_id,
                name: rec.name,
                admin: rec.admin,
            },
        )))
    }
}
