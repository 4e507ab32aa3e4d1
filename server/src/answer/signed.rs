//! TSIG-signed requests (RFC 8945): the key is looked up in the database (so a key added by the
//! loader is live at once), the request verified, and the answer signed with it. A request that
//! fails verification gets NOTAUTH with the TSIG error: BADKEY and BADSIG unsigned (empty MAC),
//! BADTIME signed, carrying our time (§5.2.3, §5.3.2).
//!
//! Off the hot path: only requests that carry a TSIG record come here.

use std::time::{SystemTime, UNIX_EPOCH};

use heed::RoTxn;
use lmdb_schema::keys::StoredKey;
use lmdb_schema::{name, Store};
use lmdns_proto::tsig::{self, Algorithm, Key, TsigRr, BADTIME, BADTRUNC, DEFAULT_FUDGE};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The key named by `name_wire` (uncompressed wire, any case), if the database has it with an
/// algorithm we implement.
pub fn lookup_key(store: &Store, txn: &RoTxn, name_wire: &[u8]) -> Option<Key> {
    let (algorithm, secret) = StoredKey::lookup(store, txn, name_wire)?;
    let name = name::key_to_wire(&name::key_from_wire(name_wire).ok()?);
    Some(Key { name, algorithm: Algorithm::from_name(&algorithm)?, secret })
}

/// A verified signed request: the key, its name as ACLs spell it, and the request MAC the
/// answer is signed over.
pub struct Signer {
    pub key: Key,
    pub key_name: String,
    pub request_mac: Vec<u8>,
}

impl Signer {
    /// Signs one answer (not a stream: see `tsig::StreamSigner` for those).
    pub fn sign(&self, response: &mut Vec<u8>) {
        tsig::sign_response(response, &self.key, &self.request_mac, now(), DEFAULT_FUDGE, 0, &[]);
    }
}

/// Why a signed request is not answered normally.
pub enum Rejected {
    /// The TSIG record is misplaced or malformed: FORMERR.
    FormErr,
    /// Verification failed: NOTAUTH with this TSIG error, signed or not as the error requires.
    NotAuth { tsig: Box<TsigRr>, error: u16, signer: Option<Box<Signer>> },
}

/// Verifies the TSIG of `packet` (which the parser saw carries one).
pub fn verify(store: &Store, txn: &RoTxn, packet: &[u8]) -> Result<Signer, Rejected> {
    let tsig = match tsig::find(packet) {
        Ok(Some(tsig)) => tsig,
        _ => return Err(Rejected::FormErr),
    };
    let key = lookup_key(store, txn, &tsig.key_name).filter(|k| Some(k.algorithm) == tsig.algorithm);
    // A truncated MAC gets BADTRUNC, as BIND's default is (RFC 8945 §5.2.2.1 leaves the
    // minimum to local policy); nothing we talk to truncates.
    match tsig::verify_request_with_min_mac(packet, &tsig, key.as_ref(), now(), usize::MAX) {
        Ok(verified) => {
            let key = key.expect("verified with a key");
            let key_name = name::wire_to_text(&key.name);
            Ok(Signer { key, key_name, request_mac: verified.mac })
        }
        Err(failure) if failure.formerr => Err(Rejected::FormErr),
        Err(failure) => {
            // BADTIME and BADTRUNC answers are signed (the MAC was good); BADKEY and BADSIG
            // cannot be.
            let signer = matches!(failure.error, BADTIME | BADTRUNC)
                .then(|| key.map(|key| Box::new(Signer { key_name: name::wire_to_text(&key.name), key, request_mac: tsig.mac.clone() })))
                .flatten();
            Err(Rejected::NotAuth { tsig: Box::new(tsig), error: failure.error, signer })
        }
    }
}

/// Logs a failed verification: at most one line a second (the rest are counted in the next
/// line), so forged signatures cannot flood the log. Off the hot path: only signed requests
/// that fail come here.
pub fn log_failure(source: std::net::IpAddr, tsig: &TsigRr, error: u16) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = now();
    let last = LAST.load(Ordering::Relaxed);
    if now > last && LAST.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
        let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
        tracing::warn!(
            client = %source,
            key = %name::wire_to_text(&tsig.key_name),
            error = tsig::error_name(error),
            suppressed,
            "TSIG verification failed: NOTAUTH"
        );
    } else {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Finishes a NOTAUTH answer already written to `response` with the TSIG error record.
pub fn append_error(response: &mut Vec<u8>, tsig: &TsigRr, error: u16, signer: Option<&Signer>) {
    match signer {
        Some(signer) => {
            tsig::sign_error_response(response, &signer.key, tsig, now(), error);
        }
        None => tsig::append_unsigned_error(response, tsig, now(), error),
    }
}
