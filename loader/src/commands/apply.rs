//! `lmdns-loader apply`: a JSON-lines changeset applied as one transaction, the way CI/CD
//! pipelines push many changes at once.
//!
//! ```text
//! {"op":"add","name":"www.example.com.","ttl":300,"type":"A","rdata":"192.0.2.1"}
//! {"op":"delete","name":"old.example.com.","type":"A"}                       (whole RRset)
//! {"op":"delete","name":"www.example.com.","type":"A","rdata":"192.0.2.9"}   (one record)
//! {"op":"delete-zone","zone":"retired.example."}
//! {"op":"add","name":"www.example.com.","ttl":60,"type":"A","rdata":"198.51.100.1","when":{"country":"DE"}}
//! {"op":"delete","name":"www.example.com.","type":"A","when":{"country":"DE"}}  (the DE variant only)
//! {"op":"policy","zone":"example.com.","table":"geo","keys":["pop","country","continent"]}
//! {"op":"policy","zone":"example.com.","table":"geo","keys":["country"],"whoami":["whoami.example.com."]}
//! {"op":"secondary-add","zone":"copied.example.","primaries":["192.0.2.53:53"],"key":"xfr."}
//! {"op":"secondary-remove","zone":"copied.example."}
//! ```
//!
//! The same add and policy lines make up the geo side file of `zone export`/`zone import`.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use lmdb_schema::zone::GeoPolicy;
use lmdb_schema::Store;
use serde::Deserialize;

use super::record::{parse_record, SerialArgs};
use super::zone::name_key;
use crate::zones::geo::{self, When};
use crate::zones::{Rr, ZoneWriter};

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Changeset file, or `-` for standard input. One JSON object per line (blank lines are
    /// skipped): op "add" (name, ttl, type, rdata), "delete" (name, type, optional rdata: without
    /// it the whole RRset goes), both with an optional "when":{"KEY":"VALUE"} selecting a geo
    /// variant instead of the default RRset; "delete-zone" (zone); "policy" (zone, table, keys:
    /// the range table and metadata keys that select variants; optional whoami: names answered
    /// with the client's address and metadata from that table); "secondary-add" (zone,
    /// primaries: ["ADDR:PORT", ...], optional key) and "secondary-remove" (zone), as `zone
    /// secondary add` and `remove`. Any bad line fails the whole changeset and nothing is
    /// written.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    #[command(flatten)]
    pub serial: SerialArgs,
}

/// One changeset line (also the schema of the geo side file).
#[derive(Deserialize, Debug)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) enum Change {
    Add {
        name: String,
        ttl: Ttl,
        #[serde(rename = "type")]
        rtype: String,
        rdata: String,
        when: Option<When>,
    },
    Delete {
        name: String,
        #[serde(rename = "type")]
        rtype: String,
        rdata: Option<String>,
        when: Option<When>,
    },
    DeleteZone {
        zone: String,
    },
    Policy {
        zone: String,
        table: String,
        keys: Vec<String>,
        /// Whoami names answered from `table` (absolute, or relative to the zone).
        #[serde(default)]
        whoami: Vec<String>,
    },
    /// As `zone secondary add`.
    SecondaryAdd {
        zone: String,
        primaries: Vec<std::net::SocketAddr>,
        key: Option<String>,
    },
    /// As `zone secondary remove`.
    SecondaryRemove {
        zone: String,
    },
}

/// A TTL as a JSON number or a string with units ("1h").
#[derive(Deserialize, Debug)]
#[serde(untagged)]
pub(crate) enum Ttl {
    Seconds(u64),
    Text(String),
}

/// The condition of an optional "when" (empty for default data).
pub(crate) fn when_condition(when: Option<&When>) -> anyhow::Result<Vec<u8>> {
    match when {
        Some(when) => when.condition().map_err(|e| anyhow!("\"when\": {e}")),
        None => Ok(Vec::new()),
    }
}

/// The record of an add op.
pub(crate) fn add_record(name: &str, ttl: Ttl, rtype: &str, rdata: &str, when: Option<&When>) -> anyhow::Result<Rr> {
    let ttl = match ttl {
        Ttl::Seconds(s) if s <= i32::MAX as u64 => s.to_string(),
        Ttl::Seconds(s) => bail!("TTL {s} is over 2^31-1"),
        Ttl::Text(t) => t,
    };
    let (mut rr, _) = parse_record(name, Some(&ttl), rtype, Some(rdata))?;
    rr.condition = when_condition(when)?;
    Ok(rr)
}

/// The apex (wire) and checked policy of a policy op, its whoami names made absolute (relative
/// ones are taken from the zone). Whether they fit the zone is checked when it is written.
pub(crate) fn policy_op(zone: &str, table: String, keys: Vec<String>, whoami: Vec<String>) -> anyhow::Result<(Vec<u8>, GeoPolicy)> {
    let key = name_key(zone)?;
    let mut policy = GeoPolicy { table, keys, whoami };
    geo::check_policy(&policy).map_err(|e| anyhow!("policy of {zone}: {e}"))?;
    geo::normalize_whoami(&key, &mut policy).map_err(|e| anyhow!("policy of {zone}: {e}"))?;
    Ok((lmdb_schema::name::key_to_wire(&key), policy))
}

/// Parses one changeset line and the records it names as `apply` does, without a database
/// (for the fuzz harness: no input may panic the parser).
pub fn parse_line(line: &str) -> anyhow::Result<()> {
    match serde_json::from_str::<Change>(line)? {
        Change::Add { name, ttl, rtype, rdata, when } => add_record(&name, ttl, &rtype, &rdata, when.as_ref()).map(|_| ()),
        Change::Delete { name, rtype, rdata, when } => {
            parse_record(&name, None, &rtype, rdata.as_deref())?;
            when_condition(when.as_ref()).map(|_| ())
        }
        Change::Policy { zone, table, keys, whoami } => policy_op(&zone, table, keys, whoami).map(|_| ()),
        Change::DeleteZone { zone } | Change::SecondaryRemove { zone } => name_key(&zone).map(|_| ()),
        Change::SecondaryAdd { zone, .. } => name_key(&zone).map(|_| ()),
    }
}

pub fn run(store: &Store, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (label, reader): (String, Box<dyn Read>) = if args.file.as_os_str() == "-" {
        ("<stdin>".into(), Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        (args.file.display().to_string(), Box::new(file))
    };
    let mut txn = store.write_txn()?;
    let mut edits = ZoneWriter::new(store, &mut txn);
    let mut applied = 0usize;
    let reader = crate::input::Guarded::new(reader, crate::input::limits().max_input);
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = index + 1;
        let line = line.with_context(|| format!("{label}:{line_no}: reading"))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{label}:{line_no}");
        let change: Change = serde_json::from_str(&line).with_context(|| format!("{}: not a valid change", at()))?;
        match change {
            Change::Add { name, ttl, rtype, rdata, when } => {
                let rr = add_record(&name, ttl, &rtype, &rdata, when.as_ref()).with_context(at)?;
                edits.add(&rr).with_context(at)?;
            }
            Change::Delete { name, rtype, rdata, when } => {
                let (rr, rdata) = parse_record(&name, None, &rtype, rdata.as_deref()).with_context(at)?;
                let cond = when_condition(when.as_ref()).with_context(at)?;
                if edits.delete(&rr.owner, rr.rtype, rdata.as_deref(), &cond).with_context(at)? == 0 {
                    let variant = if cond.is_empty() { String::new() } else { format!(" (when {})", String::from_utf8_lossy(&cond)) };
                    return Err(anyhow!("no {} record at {name} matches{variant}", rtype.to_uppercase())).with_context(at);
                }
            }
            Change::Policy { zone, table, keys, whoami } => {
                let (apex, policy) = policy_op(&zone, table, keys, whoami).with_context(at)?;
                edits.set_policy(&apex, Some(policy)).with_context(at)?;
            }
            Change::DeleteZone { zone } => {
                let key = name_key(&zone).with_context(at)?;
                edits.delete_zone(&key).with_context(at)?;
            }
            Change::SecondaryAdd { zone, primaries, key } => {
                crate::secondary::config::add(&mut edits, &zone, &primaries, key.as_deref(), false).with_context(at)?;
            }
            Change::SecondaryRemove { zone } => {
                crate::secondary::config::remove(&mut edits, &zone).with_context(at)?;
            }
        }
        applied += 1;
    }
    let summaries = edits.finish(!args.serial.no_serial_bump)?;
    txn.commit().map_err(|e| store.error(e))?;
    for s in summaries.iter().filter(|s| s.changed) {
        for warning in &s.warnings {
            eprintln!("warning: {warning}");
        }
        println!("{}: serial {}, {} records", s.apex, s.serial, s.records);
    }
    super::zone::warn_missing_tables(store, summaries.iter().filter_map(|s| s.policy.as_ref()));
    println!("applied {applied} changes");
    Ok(ExitCode::SUCCESS)
}
