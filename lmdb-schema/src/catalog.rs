//! Catalog zones (RFC 9432, schema version 2), producer side: the member list every generated
//! catalog is answered from.
//!
//! * `catalog_members`: member ID (8 bytes) → [`Member`] (JSON: zone, group). The ID is the first
//!   8 bytes of SHA-256 over the zone's lower-cased wire name, so it is the same on every machine
//!   and across restarts; the member's label is its 16 hex digits
//!   (`<id>.zones.<catalog>`).
//! * `catalog_log`: zone-set version (u64) → the member changes of that commit (JSON array of
//!   [`MemberChange`]). The version is in `meta` ([`crate::meta_keys::ZONE_SET_VERSION`]) and
//!   is bumped once by every commit that adds or removes a zone or changes a group: it is the
//!   catalog's SOA serial, and the log is its IXFR journal. Bounded like the change log.

use serde::{Deserialize, Serialize};

/// Zone-set versions kept in the log.
pub const KEEP: u64 = 10_000;

pub type MemberId = [u8; 8];

/// The member ID of the zone with apex key `apex_key`.
pub fn member_id(apex_key: &[u8]) -> MemberId {
    let wire = crate::name::key_to_wire(apex_key);
    let digest = ring::digest::digest(&ring::digest::SHA256, &wire);
    digest.as_ref()[..8].try_into().expect("8 of 32 bytes")
}

/// The member's label in the catalog (16 lower-case hex digits).
pub fn member_label(id: &MemberId) -> String {
    hex::encode(id)
}

/// The ID a label names, if it is one.
pub fn parse_member_label(label: &[u8]) -> Option<MemberId> {
    if label.len() != 16 {
        return None;
    }
    let mut id = [0u8; 8];
    hex::decode_to_slice(label, &mut id).ok()?;
    Some(id)
}

/// A catalog member: the zone (presentation form, absolute, lower case) and its group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl Member {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("member serializes")
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// One member change of a commit: `removed` holds the member as it was, `added` as it is
/// (a group change has both).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberChange {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Member>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<Member>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_stable() {
        // Part of what secondaries see: must not change between versions. The value is
        // `printf '\x07example\x03com\x00' | sha256sum | cut -c1-16`.
        let id = member_id(b"\0com\0example\0");
        assert_eq!(member_label(&id), "902e9c464fa43fca");
        assert_eq!(parse_member_label(member_label(&id).as_bytes()), Some(id));
        assert_ne!(member_id(b"\0com\0example\0"), member_id(b"\0net\0example\0"));
        assert_eq!(parse_member_label(b"xyz"), None);
    }
}
