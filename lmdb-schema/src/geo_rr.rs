//! The private-use RR types (RFC 6895 §3.1, 65280–65534) that carry geo variants and a zone's
//! policy between lmdns servers: in zone transfers to a client that asks for them, and in the
//! IXFR journal. Ordinary secondaries never see them; they get the default RRsets only.
//!
//! * `LMDNSVARIANT` ([`rtype::LMDNS_VARIANT`], 65400) at the variant's owner, with the
//!   variant's TTL. RDATA: `type:u16 condlen:u8 condition rdata` — the RR type the variant is
//!   of, the `key=value` condition that selects it, and its RDATA (names uncompressed). One
//!   record per variant record.
//! * `LMDNSPOLICY` ([`rtype::LMDNS_POLICY`], 65401) at the apex, TTL 0, at most one. RDATA: the
//!   policy as UTF-8 JSON (`zone::GeoPolicy`: table, keys, whoami names).
//!
//! A client asks for them with the EDNS option [`EDNS_OPTION`] (empty) in its AXFR or IXFR
//! request; a server that does not know the option ignores it (RFC 6891 §6.1.2).

use crate::rtype;

/// EDNS option code (RFC 6891 local/experimental range 65001–65534) by which a transfer client
/// asks for geo variants and the policy.
pub const EDNS_OPTION: u16 = 65401;

/// The RDATA of a variant record.
pub fn encode_variant(rtype: u16, condition: &[u8], rdata: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + condition.len() + rdata.len());
    out.extend_from_slice(&rtype.to_be_bytes());
    out.push(condition.len() as u8);
    out.extend_from_slice(condition);
    out.extend_from_slice(rdata);
    out
}

/// (type, condition, rdata) of a variant record's RDATA; None if it does not frame or carries
/// no condition.
pub fn decode_variant(rdata: &[u8]) -> Option<(u16, &[u8], &[u8])> {
    let rtype = u16::from_be_bytes([*rdata.first()?, *rdata.get(1)?]);
    let cond_len = *rdata.get(2)? as usize;
    let condition = rdata.get(3..3 + cond_len)?;
    if condition.is_empty() {
        return None;
    }
    Some((rtype, condition, &rdata[3 + cond_len..]))
}

/// True for the types only lmdns peers are sent.
pub fn is_private(rtype: u16) -> bool {
    matches!(rtype, rtype::LMDNS_VARIANT | rtype::LMDNS_POLICY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_round_trip() {
        let rdata = encode_variant(rtype::A, b"country=DE", &[198, 51, 100, 1]);
        assert_eq!(decode_variant(&rdata), Some((rtype::A, &b"country=DE"[..], &[198, 51, 100, 1][..])));
        assert_eq!(decode_variant(&rdata[..5]), None);
        assert_eq!(decode_variant(&encode_variant(rtype::A, b"", &[1, 2, 3, 4])), None, "a default is not a variant");
        assert!(is_private(rtype::LMDNS_POLICY) && !is_private(rtype::TXT));
    }
}
