//! Zone-level semantic checks run after parsing: the things a single line cannot know.

use std::collections::HashMap;

use lmdb_schema::name::key_from_wire;

use super::types::{CNAME, NS, NSEC, NSEC3, RRSIG, SOA};
use super::{ParseError, Record, ZoneFile};

fn err(rec: &Record, message: String) -> ParseError {
    ParseError { file: rec.file.to_path_buf(), line: rec.line, message }
}

/// What has been seen at one owner name so far.
#[derive(Default)]
struct AtName {
    cname: bool,
    /// Data that may not sit beside a CNAME.
    other: bool,
}

/// Checks the zone and returns the first problem in file order.
pub fn validate_zone(zone: &ZoneFile) -> Result<(), ParseError> {
    let origin_text = lmdb_schema::name::wire_to_text(&zone.origin);
    let origin_key = key_from_wire(&zone.origin).map_err(|e| ParseError {
        file: zone.path.clone(),
        line: 0,
        message: format!("bad zone origin: {e}"),
    })?;
    let Some(first) = zone.records.first() else {
        return Err(ParseError { file: zone.path.clone(), line: 0, message: "zone has no records (no SOA)".into() });
    };
    let mut soa: Option<&Record> = None;
    let mut apex_ns = false;
    let mut names: HashMap<Vec<u8>, AtName> = HashMap::new();
    for rec in &zone.records {
        let key = key_from_wire(&rec.owner).map_err(|e| err(rec, format!("bad owner name: {e}")))?;
        let owner_text = || lmdb_schema::name::wire_to_text(&rec.owner);
        if !key.starts_with(&origin_key) {
            return Err(err(rec, format!("{} is outside the zone {origin_text}", owner_text())));
        }
        let at_apex = key.len() == origin_key.len();
        match rec.rtype {
            SOA if !at_apex => return Err(err(rec, format!("SOA at {} is not at the zone apex {origin_text}", owner_text()))),
            SOA if soa.is_some() => return Err(err(rec, "second SOA record".into())),
            SOA => soa = Some(rec),
            NS if at_apex => apex_ns = true,
            _ => {}
        }
        let at = names.entry(key).or_default();
        match rec.rtype {
            CNAME if at.cname => return Err(err(rec, format!("second CNAME at {}", owner_text()))),
            CNAME if at.other => return Err(err(rec, format!("CNAME at {} beside other data", owner_text()))),
            CNAME => at.cname = true,
            RRSIG | NSEC | NSEC3 => {}
            t if at.cname => {
                return Err(err(rec, format!("{} at {} beside a CNAME", super::types::type_name(t), owner_text())));
            }
            _ => at.other = true,
        }
    }
    let Some(soa) = soa else {
        return Err(err(first, format!("zone {origin_text} has no SOA record")));
    };
    if !apex_ns {
        return Err(err(soa, format!("zone {origin_text} has no NS records at the apex")));
    }
    Ok(())
}
