//! What real-world zone files carry that a zone does not: duplicate records (RFC 2181 §5: two
//! identical records are one, names compared without regard to case), the closing SOA of an
//! AXFR dump, and data outside the zone. Run between parsing and [`super::validate_zone`].

use std::collections::HashSet;

use lmdb_schema::name::{key_from_wire, wire_to_text};

use super::types::{self, type_name};
use super::{ParseError, Record, ZoneFile};

fn err(rec: &Record, message: String) -> ParseError {
    ParseError { file: rec.file.to_path_buf(), line: rec.line, message }
}

/// Drops duplicates and a closing SOA equal to the first; drops out-of-zone records with a
/// warning (in `zone.warnings`) unless `strict`, where they are left for [`super::validate_zone`]
/// to refuse. A closing SOA that differs from the first is an error.
pub fn tidy_zone(zone: &mut ZoneFile, strict: bool) -> Result<(), ParseError> {
    let origin_key = key_from_wire(&zone.origin).map_err(|e| ParseError {
        file: zone.path.clone(),
        line: 0,
        message: format!("bad zone origin: {e}"),
    })?;
    let origin_text = wire_to_text(&zone.origin);
    let records = std::mem::take(&mut zone.records);
    let last = records.len().saturating_sub(1);
    let mut first_soa: Option<Vec<u8>> = None;
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(records.len());
    let mut kept = Vec::with_capacity(records.len());
    for (i, rec) in records.into_iter().enumerate() {
        let Ok(key) = key_from_wire(&rec.owner) else {
            // validate_zone reports it with its reason.
            kept.push(rec);
            continue;
        };
        if !key.starts_with(&origin_key) {
            if !strict {
                zone.warnings.push(format!(
                    "{}:{}: {} {} is outside the zone {origin_text}; ignored",
                    rec.file.display(),
                    rec.line,
                    wire_to_text(&rec.owner),
                    type_name(rec.rtype)
                ));
                continue;
            }
            kept.push(rec);
            continue;
        }
        let identity = identity(&key, &rec);
        if rec.rtype == types::SOA && key.len() == origin_key.len() {
            match &first_soa {
                None => first_soa = Some(identity.clone()),
                // An AXFR dump ends with the SOA again (RFC 5936 §2.2).
                Some(first) if i == last && *first != identity => {
                    return Err(err(&rec, "the closing SOA (as in an AXFR dump) differs from the zone's first SOA".into()));
                }
                Some(_) => {}
            }
        }
        if seen.insert(identity) {
            kept.push(rec);
        }
    }
    zone.records = kept;
    Ok(())
}

/// Owner key (lower case), type and RDATA with its embedded names in lower case: equal for
/// records RFC 2181 §5 counts as one.
fn identity(key: &[u8], rec: &Record) -> Vec<u8> {
    let mut id = Vec::with_capacity(key.len() + 3 + rec.rdata.len());
    id.extend_from_slice(&(key.len() as u16).to_be_bytes());
    id.extend_from_slice(key);
    id.extend_from_slice(&rec.rtype.to_be_bytes());
    let at = id.len();
    id.extend_from_slice(&rec.rdata);
    lowercase_names(rec.rtype, &mut id[at..]);
    id
}

/// Lower-cases the domain names in RDATA of `rtype` in place: the types of RFC 4034 §6.2 and
/// SVCB/HTTPS. Stops quietly at anything malformed (such RDATA was refused by the parser).
pub(crate) fn lowercase_names(rtype: u16, rdata: &mut [u8]) {
    let name_at = |rdata: &mut [u8], at: usize| lower_name(rdata, at);
    match rtype {
        types::NS | 3 | 4 | types::CNAME | 7 | 8 | 9 | types::PTR | types::DNAME | types::NSEC | 30 => {
            name_at(rdata, 0);
        }
        types::SOA | 14 | 17 => {
            if let Some(end) = name_at(rdata, 0) {
                name_at(rdata, end);
            }
        }
        types::MX | 18 | 21 | 36 | types::SVCB | types::HTTPS => {
            name_at(rdata, 2);
        }
        26 => {
            if let Some(end) = name_at(rdata, 2) {
                name_at(rdata, end);
            }
        }
        types::SRV => {
            name_at(rdata, 6);
        }
        types::RRSIG | 24 => {
            name_at(rdata, 18);
        }
        types::NAPTR => {
            let mut at = 4;
            for _ in 0..3 {
                match rdata.get(at) {
                    Some(&len) => at += 1 + len as usize,
                    None => return,
                }
            }
            name_at(rdata, at);
        }
        _ => {}
    }
}

/// Lower-cases the uncompressed wire name at `rdata[at..]`; its end, or None if malformed.
fn lower_name(rdata: &mut [u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *rdata.get(at)? as usize;
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 {
            return None;
        }
        let label = rdata.get_mut(at + 1..at + 1 + len)?;
        label.make_ascii_lowercase();
        at += 1 + len;
    }
}
