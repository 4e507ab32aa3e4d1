//! TSIG keys (RFC 8945), in the `tsig_keys` database so the server and every writer see the
//! same keys and a key added is live at once. Key = the key name's name key; value = JSON
//! [`StoredKey`]. Secrets are base64 in the value and nowhere else: never logged, never in
//! `key list`.

use serde::{Deserialize, Serialize};

/// Algorithms accepted (RFC 8945 §6; hmac-sha1 for old peers).
pub const ALGORITHMS: &[&str] = &["hmac-sha256", "hmac-sha512", "hmac-sha384", "hmac-sha1"];

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// Algorithm name as in key files: `hmac-sha256`, ...
    pub algorithm: String,
    /// The secret, base64.
    pub secret: String,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey").field("algorithm", &self.algorithm).field("secret", &"<redacted>").finish()
    }
}

impl StoredKey {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("key serializes")
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
    /// The key named by `name_wire` (uncompressed wire, any case): its algorithm name and secret
    /// bytes, if the database has it and it decodes.
    pub fn lookup(store: &crate::Store, txn: &heed::RoTxn, name_wire: &[u8]) -> Option<(String, Vec<u8>)> {
        let key = crate::name::key_from_wire(name_wire).ok()?;
        let stored = StoredKey::decode(store.tsig_keys.get(txn, &key).ok()??).ok()?;
        let secret = stored.secret_bytes()?;
        Some((stored.algorithm, secret))
    }

    /// The secret's bytes (None if the stored base64 does not decode).
    pub fn secret_bytes(&self) -> Option<Vec<u8>> {
        data_encoding::BASE64.decode(self.secret.as_bytes()).ok()
    }
}
