//! Metadata-selected RRset variants ("geo"): the conditions that tag them, the per-zone policy
//! that says how the server picks one, and the side file (`NAME.geo.jsonl`) that carries both
//! beside a plain master file on export and import.
//!
//! A condition is stored as the bytes `key=value` (see `lmdb_schema::node::Rrset::condition`):
//! `key` is a range-metadata key (`[a-z0-9_-]+`), `value` is non-empty, free of `=` and control
//! characters, and the whole condition fits in 255 bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lmdb_schema::name;
use lmdb_schema::zone::GeoPolicy;
use serde::{Deserialize, Serialize};

use super::{BuildError, ZoneTree};
use crate::zonefile;

/// Longest stored condition (`condlen` is one byte).
pub const MAX_CONDITION: usize = 255;

/// A metadata key: non-empty, `[a-z0-9_-]`, as range tables store their column names.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty metadata key".into());
    }
    if let Some(bad) = key.chars().find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-')) {
        let hint = if bad.is_ascii_uppercase() { " (metadata keys are lower case)" } else { "" };
        return Err(format!("metadata key {key:?} has {bad:?}; use only a-z, 0-9, '_' and '-'{hint}"));
    }
    Ok(())
}

/// Builds the stored condition `key=value`, checking both parts.
pub fn condition(key: &str, value: &str) -> Result<Vec<u8>, String> {
    check_key(key)?;
    if value.is_empty() {
        return Err(format!("condition {key}= has an empty value"));
    }
    if value.contains('=') {
        return Err(format!("condition value {value:?} contains '='"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("condition value {value:?} contains a control character"));
    }
    let cond = format!("{key}={value}");
    if cond.len() > MAX_CONDITION {
        return Err(format!("condition {key}=... is {} bytes; at most {MAX_CONDITION}", cond.len()));
    }
    Ok(cond.into_bytes())
}

/// Parses `key=value` as given on a command line (`--when country=DE`).
pub fn parse_condition(text: &str) -> Result<Vec<u8>, String> {
    match text.split_once('=') {
        Some((key, value)) => condition(key, value),
        None => Err(format!("condition {text:?} is not KEY=VALUE (e.g. country=DE)")),
    }
}

/// Checks stored condition bytes (empty for default data).
pub fn check_condition_bytes(cond: &[u8]) -> Result<(), String> {
    if cond.is_empty() {
        return Ok(());
    }
    let text = std::str::from_utf8(cond).map_err(|_| "condition is not UTF-8".to_string())?;
    parse_condition(text).map(|_| ())
}

/// `key=value` → (`key`, `value`); None for default data or malformed bytes.
pub fn split_condition(cond: &[u8]) -> Option<(&str, &str)> {
    std::str::from_utf8(cond).ok()?.split_once('=')
}

/// A `"when"` object of a changeset or side file: exactly one `key: value` pair (the value a
/// string, or an integer for keys like `asn`).
#[derive(Deserialize, Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(transparent)]
pub struct When(pub BTreeMap<String, serde_json::Value>);

impl When {
    /// The stored condition bytes.
    pub fn condition(&self) -> Result<Vec<u8>, String> {
        if self.0.len() != 1 {
            return Err(format!("\"when\" must hold exactly one key (e.g. {{\"country\":\"DE\"}}), not {}", self.0.len()));
        }
        let (key, value) = self.0.iter().next().expect("one entry");
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
            other => return Err(format!("\"when\" value of {key:?} must be a string, not {other}")),
        };
        condition(key, &value)
    }

    pub fn from_condition(cond: &[u8]) -> Option<When> {
        let (key, value) = split_condition(cond)?;
        Some(When(BTreeMap::from([(key.to_string(), serde_json::Value::String(value.to_string()))])))
    }
}

/// Checks a policy: a valid range-table name and at least one valid, distinct key.
pub fn check_policy(policy: &GeoPolicy) -> Result<(), String> {
    lmdb_schema::ranges::validate_table_name(&policy.table).map_err(|e| e.to_string())?;
    if policy.keys.is_empty() {
        return Err("a policy needs at least one metadata key".into());
    }
    for (i, key) in policy.keys.iter().enumerate() {
        check_key(key)?;
        if policy.keys[..i].contains(key) {
            return Err(format!("metadata key {key:?} is listed twice"));
        }
    }
    Ok(())
}

/// The name key of a whoami name of the zone with apex key `apex_key`: a name ending in '.' is
/// absolute, any other is relative to the apex (as in zone files).
pub fn whoami_key(apex_key: &[u8], text: &str) -> Result<Vec<u8>, BuildError> {
    let invalid = |e: String| BuildError::Whoami { name: text.to_string(), reason: format!("not a valid name: {e}") };
    let wire = zonefile::parse_name(text, &name::key_to_wire(apex_key)).map_err(invalid)?;
    name::key_from_wire(&wire).map_err(|e| invalid(e.to_string()))
}

/// Rewrites the policy's whoami names as absolute lower-case presentation names (relative ones
/// taken from the apex), the form they are stored and compared in. Returns their keys.
pub fn normalize_whoami(apex_key: &[u8], policy: &mut GeoPolicy) -> Result<Vec<Vec<u8>>, BuildError> {
    let mut keys = Vec::with_capacity(policy.whoami.len());
    for text in &mut policy.whoami {
        let key = whoami_key(apex_key, text)?;
        *text = name::key_to_text(&key);
        keys.push(key);
    }
    Ok(keys)
}

/// One variant RRset of a zone, for warnings.
#[derive(Debug, Clone)]
pub struct VariantRef {
    pub owner: String,
    pub rtype: u16,
    pub condition: String,
}

impl VariantRef {
    pub fn key(&self) -> &str {
        self.condition.split_once('=').map_or(self.condition.as_str(), |(k, _)| k)
    }
}

/// Every variant RRset of a zone.
pub fn variants(tree: &ZoneTree) -> Vec<VariantRef> {
    let mut out = Vec::new();
    for (key, section) in &tree.names {
        for rrset in section.rrsets.iter().filter(|r| !r.condition.is_empty() && !r.rdatas.is_empty()) {
            out.push(VariantRef {
                owner: name::key_to_text(key),
                rtype: rrset.rtype,
                condition: String::from_utf8_lossy(&rrset.condition).into_owned(),
            });
        }
    }
    out
}

/// One warning per metadata key whose variants can never be selected: the zone has no policy,
/// or the policy does not list the key.
pub fn unmatchable(apex: &str, variants: &[VariantRef], policy: Option<&GeoPolicy>) -> Vec<String> {
    let mut by_key: BTreeMap<&str, (usize, &VariantRef)> = BTreeMap::new();
    for v in variants {
        if policy.is_some_and(|p| p.keys.iter().any(|k| k == v.key())) {
            continue;
        }
        by_key.entry(v.key()).or_insert((0, v)).0 += 1;
    }
    by_key
        .into_iter()
        .map(|(key, (count, example))| {
            let why = match policy {
                None => "the zone has no policy (set one with `zone policy`)".to_string(),
                Some(p) => format!("the zone's policy keys are {}", p.keys.join(",")),
            };
            format!(
                "{apex}: {count} variant RRset(s) on key {key:?} (e.g. {} {} {}) can never match: {why}",
                example.owner,
                zonefile::type_name(example.rtype),
                example.condition
            )
        })
        .collect()
}

/// The side file that goes with a zone file: `X.zone` → `X.geo.jsonl`, any other `F` →
/// `F.geo.jsonl`.
pub fn side_file_for(zone_file: &Path) -> PathBuf {
    let file_name = zone_file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let side = match file_name.strip_suffix(".zone") {
        Some(stem) if !stem.is_empty() => format!("{stem}.geo.jsonl"),
        _ => format!("{file_name}.geo.jsonl"),
    };
    zone_file.with_file_name(side)
}

/// The side file's name for a zone exported to stdout: `example.com.` → `example.com.geo.jsonl`.
pub fn side_file_name(apex_text: &str) -> String {
    match apex_text.trim_end_matches('.') {
        "" => "root.geo.jsonl".to_string(),
        stem => format!("{stem}.geo.jsonl"),
    }
}

#[derive(Serialize)]
struct PolicyLine<'a> {
    op: &'static str,
    zone: &'a str,
    table: &'a str,
    keys: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    whoami: &'a [String],
}

#[derive(Serialize)]
struct AddLine {
    op: &'static str,
    name: String,
    ttl: u32,
    #[serde(rename = "type")]
    rtype: String,
    rdata: String,
    when: When,
}

/// The side file's lines (without newlines): the policy first if there is one, then every
/// variant record in canonical order, each as an `apply` add op. Empty when the zone has
/// neither.
pub fn side_lines(tree: &ZoneTree, policy: Option<&GeoPolicy>) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(p) = policy {
        let apex = tree.apex_text();
        let line = PolicyLine { op: "policy", zone: &apex, table: &p.table, keys: &p.keys, whoami: &p.whoami };
        lines.push(serde_json::to_string(&line).expect("serializes"));
    }
    for rr in tree.records().filter(|r| !r.condition.is_empty()) {
        let Some(when) = When::from_condition(&rr.condition) else { continue };
        let line = AddLine {
            op: "add",
            name: name::wire_to_text(&rr.owner),
            ttl: rr.ttl,
            rtype: zonefile::type_name(rr.rtype),
            rdata: zonefile::rdata_to_text(rr.rtype, &rr.rdata),
            when,
        };
        lines.push(serde_json::to_string(&line).expect("serializes"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert_eq!(parse_condition("country=DE").unwrap(), b"country=DE");
        assert_eq!(parse_condition("asn=3320").unwrap(), b"asn=3320");
        assert!(parse_condition("country").is_err());
        assert!(parse_condition("=DE").is_err());
        assert!(parse_condition("country=").is_err());
        assert!(parse_condition("country=D=E").is_err());
        assert!(parse_condition("Country=DE").unwrap_err().contains("lower case"));
        assert!(parse_condition(&format!("pop={}", "x".repeat(251))).is_ok());
        assert!(parse_condition(&format!("pop={}", "x".repeat(252))).is_err());
        let when: When = serde_json::from_str(r#"{"asn":3320}"#).unwrap();
        assert_eq!(when.condition().unwrap(), b"asn=3320");
        let two: When = serde_json::from_str(r#"{"a":"1","b":"2"}"#).unwrap();
        assert!(two.condition().is_err());
        let none: When = serde_json::from_str(r#"{}"#).unwrap();
        assert!(none.condition().is_err());
    }

    #[test]
    fn side_file_names() {
        assert_eq!(side_file_for(Path::new("/a/example.com.zone")), Path::new("/a/example.com.geo.jsonl"));
        assert_eq!(side_file_for(Path::new("db.example")), Path::new("db.example.geo.jsonl"));
        assert_eq!(side_file_name("example.com."), "example.com.geo.jsonl");
    }
}
