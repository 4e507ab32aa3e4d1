//! Secondary zones: zones this database copies from primaries (RFC 1995, RFC 5936), kept up to
//! date by the writer (`lmdns-loader serve`). Key = the zone's apex key in `secondary_zones`;
//! value = JSON [`SecondaryZone`]: how to transfer it and how the last attempts went. The zone's
//! data and metadata are ordinary zones (`names`, `zones`) once a first transfer succeeded.
//!
//! Expired zones (past SOA EXPIRE without a successful refresh) are listed in `meta` under
//! [`crate::meta_keys::EXPIRED_ZONES`] (their apex keys, each with its length before it), so the
//! server answers SERVFAIL for them with one `get` per batch of queries, and nothing at all per
//! query while no zone is expired.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How and from where a secondary zone is transferred, and what happened last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecondaryZone {
    /// Apex, presentation form, absolute, lower case.
    pub zone: String,
    /// Primaries, tried in order.
    pub primaries: Vec<SocketAddr>,
    /// TSIG key (absolute, lower case) for SOA queries, transfers and NOTIFY from the primaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The catalog (apex) this zone is a member of, when it was provisioned by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<String>,
    /// Its catalog group (RFC 9432 §4.4.2), which `catalog group` maps to primaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its member ID in that catalog (RFC 9432 §4.1): a changed ID resets the zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    /// A change of ownership (RFC 9432 §5.6) its catalog announced: the catalog that may take
    /// the zone over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coo: Option<String>,
    /// This zone is itself a catalog to follow (`catalog follow`): its members become
    /// secondary zones.
    #[serde(default)]
    pub consumer: bool,
    /// Serial of the copy held (None before the first transfer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u32>,
    /// Unix seconds of the last refresh attempt, the last success, the next refresh.
    #[serde(default)]
    pub last_refresh: u64,
    #[serde(default)]
    pub last_success: u64,
    #[serde(default)]
    pub next_refresh: u64,
    /// Unix seconds after which the copy is expired (SOA EXPIRE after the last success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    #[serde(default)]
    pub expired: bool,
    /// What went wrong last time, if the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last transfer: "AXFR", "IXFR" or "up to date".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transfer: Option<String>,
    /// Refreshes that failed in a row (0 after a success).
    #[serde(default)]
    pub failures: u64,
    /// Successful transfers by kind (full: AXFR or an AXFR-style IXFR; incremental).
    #[serde(default)]
    pub axfr_ok: u64,
    #[serde(default)]
    pub ixfr_ok: u64,
    /// Transfers that succeeded and failed, and bytes received.
    #[serde(default)]
    pub transfers_ok: u64,
    #[serde(default)]
    pub transfers_failed: u64,
    #[serde(default)]
    pub bytes_in: u64,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl SecondaryZone {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("secondary zone serializes")
    }
    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Same zone configuration (primaries, key, catalog membership), whatever the state.
    pub fn same_config(&self, other: &SecondaryZone) -> bool {
        (&self.primaries, &self.key, &self.catalog, &self.member_id, &self.group, self.consumer)
            == (&other.primaries, &other.key, &other.catalog, &other.member_id, &other.group, other.consumer)
    }
}

/// True if the expired-zones list holds `apex`.
pub fn is_expired(list: &[u8], apex: &[u8]) -> bool {
    decode_expired(list).any(|a| a == apex)
}

/// Where the members of a catalog group are transferred from (`catalog group`), stored in
/// `meta` under [`crate::meta_keys::CATALOG_GROUPS`] as a JSON object keyed by group name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupPrimaries {
    pub primaries: Vec<SocketAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

pub type CatalogGroups = std::collections::BTreeMap<String, GroupPrimaries>;

/// Encodes the expired-zones list.
pub fn encode_expired(apexes: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for apex in apexes {
        out.push(apex.len() as u8);
        out.extend_from_slice(apex);
    }
    out
}

/// The apex keys of an expired-zones list (stops at the first that does not frame).
pub fn decode_expired(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let len = *bytes.get(pos)? as usize;
        let apex = bytes.get(pos + 1..pos + 1 + len)?;
        pos += 1 + len;
        Some(apex)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_unknown_fields() {
        let zone = SecondaryZone { zone: "example.".into(), primaries: vec!["192.0.2.1:53".parse().unwrap()], ..Default::default() };
        assert_eq!(SecondaryZone::decode(&zone.encode()).unwrap(), zone);
        let mut newer: serde_json::Value = serde_json::from_slice(&zone.encode()).unwrap();
        newer["later_field"] = serde_json::json!(1);
        let decoded = SecondaryZone::decode(newer.to_string().as_bytes()).unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&decoded.encode()).unwrap()["later_field"], 1);
        let list = encode_expired(&[b"\0a\0".to_vec(), b"\0b\0c\0".to_vec()]);
        assert_eq!(decode_expired(&list).collect::<Vec<_>>(), vec![&b"\0a\0"[..], b"\0b\0c\0"]);
    }
}
