//! Metadata as answers: whoami names (the client's own address and its range metadata) and the
//! IP-lookup zone (`4.3.2.1.<zone> TXT` → metadata of 1.2.3.4), in the spirit of
//! `whoami.akamai.net` and Team Cymru's `origin.asn.cymru.com`, from the operator's own tables.
//! Whoami names come from the server's `--whoami` flag (answered here) or from a zone's policy
//! (answered by [`super::internet`] in that zone); both build their records with
//! [`whoami_records`].
//!
//! These answers are synthesized, so they allocate (JSON text); they are not the hot path.

use lmdb_schema::rtype;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use heed::RoTxn;

use super::geo::GeoScratch;
use super::writer::{Owner, Section, Writer, RCODE_NOERROR, RCODE_NXDOMAIN};
use crate::engine::AnswerConfig;
use crate::query::QueryName;

/// The whoami and lookup TXT document. A struct, not a `json!` map, so its keys come in this
/// order (`ip`, `ecs`, `start`, `end`, `meta`), as `ranges lookup` and HTTP `/lookup` print them.
#[derive(serde::Serialize)]
struct Whoami {
    ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ecs: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    meta: serde_json::Value,
}

/// TTL of lookup-zone answers and of its synthesized SOA (range tables change on import).
const LOOKUP_TTL: u32 = 60;

/// What a question asks of the metadata names, if anything.
pub enum MetaQuestion {
    Whoami,
    /// Below the lookup zone: the address the labels spell, or None if they spell none.
    Lookup {
        apex_labels: usize,
        address: Option<IpAddr>,
    },
}

/// Recognizes whoami names and names below the lookup zone.
pub fn classify(config: &AnswerConfig, name: &QueryName) -> Option<MetaQuestion> {
    let key = name.ancestor_key(name.label_count());
    if config.whoami_keys.iter().any(|k| k.as_slice() == key) {
        return Some(MetaQuestion::Whoami);
    }
    let apex = config.lookup_zone_key.as_deref()?;
    if key.len() <= apex.len() || !key.starts_with(apex) {
        return None;
    }
    let apex_labels = lmdb_schema::name::label_count(apex);
    // The key lists labels root first, so the labels below the apex read in address order.
    let below: Vec<&[u8]> = key[apex.len()..].split(|&b| b == 0).filter(|l| !l.is_empty()).collect();
    Some(MetaQuestion::Lookup { apex_labels, address: parse_reversed(&below) })
}

/// `1 2 3 4` (from `4.3.2.1.zone`) or 32 nibbles (from the ip6.arpa-style name).
fn parse_reversed(labels: &[&[u8]]) -> Option<IpAddr> {
    match labels.len() {
        4 => {
            let mut octets = [0u8; 4];
            for (o, label) in octets.iter_mut().zip(labels) {
                let text = std::str::from_utf8(label).ok()?;
                if text.len() > 1 && text.starts_with('0') {
                    return None;
                }
                *o = text.parse().ok()?;
            }
            Some(IpAddr::V4(Ipv4Addr::from(octets)))
        }
        32 => {
            let mut value: u128 = 0;
            for label in labels {
                if label.len() != 1 {
                    return None;
                }
                value = value << 4 | (label[0] as char).to_digit(16)? as u128;
            }
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

/// Appends `text` as TXT RDATA: character-strings of at most 255 bytes.
fn txt_rdata(text: &str, out: &mut Vec<u8>) {
    out.clear();
    for chunk in text.as_bytes().chunks(255) {
        out.push(chunk.len() as u8);
        out.extend_from_slice(chunk);
    }
    if text.is_empty() {
        out.push(0);
    }
}

/// Answers a `--whoami` name (see [`whoami_records`]) from `--whoami-table`: NOERROR and AA
/// whatever the type, as no zone holds the name.
pub fn whoami(config: &AnswerConfig, txn: &RoTxn, geo: &mut GeoScratch, source: IpAddr, qtype: u16, w: &mut Writer<'_>) -> (u16, bool) {
    whoami_records(txn, geo, &config.whoami_table, source, qtype, Owner::At(12), w);
    (RCODE_NOERROR as u16, true)
}

/// The answer of a whoami name, shared by `--whoami` names and the whoami names of a zone's
/// policy: TXT (or ANY) with the client's address, its ECS subnet and its range and metadata in
/// `table`; A or AAAA with the address the query came from when the family matches. TTL 0: the
/// answer is per client. Returns false when there is no record for `qtype` (NODATA).
pub fn whoami_records(
    txn: &RoTxn,
    geo: &mut GeoScratch,
    table: &str,
    source: IpAddr,
    qtype: u16,
    owner: Owner,
    w: &mut Writer<'_>,
) -> bool {
    match qtype {
        rtype::TXT | rtype::ANY => {
            let client = geo.client.unwrap_or(source);
            let found = geo.lookup_json(txn, table, client);
            geo.decided = Some(found.as_ref().map(|(d, _)| *d));
            geo.echoes_subnet = geo.subnet.is_some();
            let (range, meta) = match found {
                Some((range, meta)) => (Some(range), serde_json::Value::Object(meta)),
                None => (None, serde_json::Value::Null),
            };
            let doc = Whoami {
                ip: source.to_string(),
                ecs: geo.subnet.map(|subnet| format!("{}/{}", subnet.ip(), subnet.source_prefix)),
                start: range.as_ref().map(|r| r.start.to_string()),
                end: range.as_ref().map(|r| r.end.to_string()),
                meta,
            };
            let mut rdata = Vec::new();
            txt_rdata(&serde_json::to_string(&doc).expect("plain JSON"), &mut rdata);
            w.record(Section::Answer, owner, rtype::TXT, 0, &[&rdata]);
            true
        }
        rtype::A => match lmdb_schema::ranges::normalize(source) {
            IpAddr::V4(a) => {
                w.record(Section::Answer, owner, rtype::A, 0, &[&a.octets()]);
                true
            }
            IpAddr::V6(_) => false,
        },
        rtype::AAAA => match source {
            IpAddr::V6(a) => {
                w.record(Section::Answer, owner, rtype::AAAA, 0, &[&a.octets()]);
                true
            }
            IpAddr::V4(_) => false,
        },
        _ => false,
    }
}

/// Answers a name below the lookup zone: TXT with the range and metadata of the address it
/// spells; NXDOMAIN when it spells none or the address is in no range; NODATA for other types.
#[allow(clippy::too_many_arguments)]
pub fn lookup(
    config: &AnswerConfig,
    txn: &RoTxn,
    geo: &mut GeoScratch,
    apex_labels: usize,
    address: Option<IpAddr>,
    name: &QueryName,
    qtype: u16,
    w: &mut Writer<'_>,
) -> (u16, bool) {
    let found = address.and_then(|ip| geo.lookup_json(txn, &config.lookup_table, ip).map(|(d, m)| (ip, d, m)));
    let Some((ip, range, meta)) = found else {
        soa(name, apex_labels, w);
        return (RCODE_NXDOMAIN as u16, true);
    };
    if qtype == rtype::TXT || qtype == rtype::ANY {
        let doc = Whoami {
            ip: ip.to_string(),
            ecs: None,
            start: Some(range.start.to_string()),
            end: Some(range.end.to_string()),
            meta: serde_json::Value::Object(meta),
        };
        let mut rdata = Vec::new();
        txt_rdata(&serde_json::to_string(&doc).expect("plain JSON"), &mut rdata);
        w.record(Section::Answer, Owner::At(12), rtype::TXT, LOOKUP_TTL, &[&rdata]);
    } else {
        soa(name, apex_labels, w);
    }
    (RCODE_NOERROR as u16, true)
}

/// A synthesized SOA for the lookup zone's negative answers: the zone lives in range tables,
/// not in a zone file, so it has no SOA of its own.
fn soa(name: &QueryName, apex_labels: usize, w: &mut Writer<'_>) {
    let Some(apex_at) = name.ancestor_offset(apex_labels) else { return };
    let apex_at = apex_at as usize;
    let Some(apex_len) = lmdb_schema::zone::wire_name_len(&w.buf[apex_at..]) else { return };
    let apex = w.buf[apex_at..apex_at + apex_len].to_vec();
    let mut rdata = apex.clone();
    rdata.extend_from_slice(b"\x0ahostmaster");
    rdata.extend_from_slice(&apex);
    for v in [1u32, 3600, 600, 86400, LOOKUP_TTL] {
        rdata.extend_from_slice(&v.to_be_bytes());
    }
    w.record(Section::Authority, Owner::At(apex_at as u16), rtype::SOA, LOOKUP_TTL, &[&rdata]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reversed_labels_spell_addresses() {
        assert_eq!(parse_reversed(&[b"1", b"2", b"3", b"4"]), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_reversed(&[b"1", b"2", b"3", b"256"]), None);
        assert_eq!(parse_reversed(&[b"1", b"02", b"3", b"4"]), None);
        assert_eq!(parse_reversed(&[b"1", b"2", b"3"]), None);
        let nibbles: Vec<&[u8]> = "20010db8000000000000000000000001".as_bytes().chunks(1).collect();
        assert_eq!(parse_reversed(&nibbles), Some("2001:db8::1".parse().unwrap()));
        let mut bad = nibbles.clone();
        bad[3] = b"g";
        assert_eq!(parse_reversed(&bad), None);
    }

    #[test]
    fn long_txt_is_split_into_character_strings() {
        let mut out = Vec::new();
        txt_rdata(&"x".repeat(300), &mut out);
        assert_eq!(out.len(), 302);
        assert_eq!(out[0], 255);
        assert_eq!(out[256], 45);
    }
}
