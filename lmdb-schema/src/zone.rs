//! Per-zone metadata, stored in the `zones` database under the apex's name key.
//!
//! JSON, because nothing on the query path reads it (the SOA RRset lives in the apex node) and
//! operators' tools and future fields (transfer, catalog, policy) want an extensible record.

use serde::{Deserialize, Serialize};

/// The parts of an SOA RDATA that operators and the server care about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoaFields {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    pub minimum: u32,
}

/// How client metadata selects RRset variants in a zone (see `node::Rrset::condition`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GeoPolicy {
    /// The IP-range table whose metadata is matched.
    pub table: String,
    /// Metadata keys to try, most specific first.
    pub keys: Vec<String>,
    /// Names inside the zone that answer whoami from `table` (absolute, lower case,
    /// presentation form). Their nodes carry `node::flags::WHOAMI` and own no records. Absent in
    /// metadata written before the field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub whoami: Vec<String>,
}

/// Where a zone's journal entries are (`journal` database): sequence numbers `first..next`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct JournalState {
    /// Sequence number of the oldest entry kept.
    pub first: u64,
    /// Sequence number the next entry gets.
    pub next: u64,
    /// Bytes of the entries kept.
    pub bytes: u64,
}

impl JournalState {
    pub fn entries(&self) -> u64 {
        self.next - self.first
    }
}

/// A secondary the server sends NOTIFY to when the zone's serial changes (RFC 1996).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyTarget {
    /// `ADDR:PORT`.
    pub addr: std::net::SocketAddr,
    /// TSIG key name (absolute, lower case) to sign the NOTIFY with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// One rule of a zone's update policy (RFC 3007; BIND's `update-policy` grammar): who may
/// change what by DNS UPDATE. Checked by the writer; stored here so `zone list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateRule {
    /// `key:NAME` (signed with that TSIG key; NAME absolute, lower case) or a network `CIDR`
    /// (unsigned requests from there).
    pub identity: String,
    /// `zonesub` (any name in the zone), `name` (exactly `name`), `subdomain` (`name` and below)
    /// or `wildcard` (names matching the wildcard `name`).
    pub rule: String,
    /// The name the rule is about (absolute, lower case); none for `zonesub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Record types (upper case names, or `ANY`).
    pub types: Vec<String>,
}

/// Fields are added over time; a field this build does not know is kept as it was when the
/// metadata is written back (`extra`), so an older writer never drops a newer one's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneMeta {
    /// Apex in presentation form, lower case, absolute.
    pub apex: String,
    pub soa: SoaFields,
    /// Number of resource records (every RR of every RRset, variants included).
    pub records: u64,
    /// Seconds since the Unix epoch of the last committed change.
    pub last_change: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<GeoPolicy>,
    /// The database change counter of the commit that last changed this zone's content.
    #[serde(default)]
    pub changed_at: u64,
    #[serde(default)]
    pub journal: JournalState,
    /// Per-zone NOTIFY targets (besides the server's `--notify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<NotifyTarget>,
    /// Catalog group (RFC 9432 §4.4.2), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Who may change the zone by DNS UPDATE (empty: nobody).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub update_policy: Vec<UpdateRule>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl ZoneMeta {
    /// Metadata of a zone just created, before any journal or settings.
    pub fn new(apex: String, soa: SoaFields, records: u64, last_change: u64, policy: Option<GeoPolicy>) -> Self {
        ZoneMeta {
            apex,
            soa,
            records,
            last_change,
            policy,
            changed_at: 0,
            journal: JournalState::default(),
            notify: Vec::new(),
            group: None,
            update_policy: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }
}

impl ZoneMeta {
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("zone metadata serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Decodes the SOA fields from an SOA RDATA (uncompressed names, as stored).
pub fn soa_from_rdata(rdata: &[u8]) -> Option<SoaFields> {
    let mname_len = wire_name_len(rdata)?;
    let rname_len = wire_name_len(&rdata[mname_len..])?;
    let nums = rdata.get(mname_len + rname_len..)?;
    if nums.len() != 20 {
        return None;
    }
    let n = |i: usize| u32::from_be_bytes([nums[i], nums[i + 1], nums[i + 2], nums[i + 3]]);
    Some(SoaFields {
        mname: crate::name::wire_to_text(&rdata[..mname_len]),
        rname: crate::name::wire_to_text(&rdata[mname_len..mname_len + rname_len]),
        serial: n(0),
        refresh: n(4),
        retry: n(8),
        expire: n(12),
        minimum: n(16),
    })
}

/// Length of an uncompressed wire name at the start of `bytes`.
pub fn wire_name_len(bytes: &[u8]) -> Option<usize> {
    let mut pos = 0;
    loop {
        let len = *bytes.get(pos)? as usize;
        if len == 0 {
            return Some(pos + 1);
        }
        if len > 63 {
            return None;
        }
        pos += 1 + len;
    }
}

/// Offset of the SERIAL field inside an SOA RDATA.
pub fn soa_serial_offset(rdata: &[u8]) -> Option<usize> {
    let m = wire_name_len(rdata)?;
    let r = wire_name_len(&rdata[m..])?;
    (rdata.len() == m + r + 20).then_some(m + r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soa_decodes_and_meta_round_trips() {
        let mut rdata = b"\x02ns\x07example\x00\x05admin\x07example\x00".to_vec();
        for v in [2024010101u32, 7200, 3600, 1209600, 300] {
            rdata.extend_from_slice(&v.to_be_bytes());
        }
        let soa = soa_from_rdata(&rdata).unwrap();
        assert_eq!(soa.mname, "ns.example.");
        assert_eq!(soa.serial, 2024010101);
        assert_eq!(soa.minimum, 300);
        assert_eq!(soa_serial_offset(&rdata), Some(27));
        assert!(soa_from_rdata(&rdata[..rdata.len() - 1]).is_none());
        let meta = ZoneMeta::new("example.".into(), soa, 3, 1, None);
        assert_eq!(ZoneMeta::decode(&meta.encode()).unwrap(), meta);
        // A field written by a newer build survives being decoded and encoded again.
        let mut newer: serde_json::Value = serde_json::from_slice(&meta.encode()).unwrap();
        newer["future_setting"] = serde_json::json!({"on": true});
        let decoded = ZoneMeta::decode(newer.to_string().as_bytes()).unwrap();
        let again: serde_json::Value = serde_json::from_slice(&decoded.encode()).unwrap();
        assert_eq!(again["future_setting"], serde_json::json!({"on": true}));
    }

    #[test]
    fn policy_whoami_is_optional_on_disk() {
        // Metadata written before whoami names existed still decodes.
        let old: GeoPolicy = serde_json::from_str(r#"{"table":"geo","keys":["country"]}"#).unwrap();
        assert_eq!(old, GeoPolicy { table: "geo".into(), keys: vec!["country".into()], whoami: vec![] });
        // An empty list is not written, so such a policy encodes as before.
        assert_eq!(serde_json::to_string(&old).unwrap(), r#"{"table":"geo","keys":["country"]}"#);
        let new = GeoPolicy { whoami: vec!["whoami.example.".into()], ..old };
        let text = serde_json::to_string(&new).unwrap();
        assert_eq!(text, r#"{"table":"geo","keys":["country"],"whoami":["whoami.example."]}"#);
        assert_eq!(serde_json::from_str::<GeoPolicy>(&text).unwrap(), new);
    }
}
