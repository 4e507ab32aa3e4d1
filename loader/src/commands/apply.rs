//! `lmdns-loader apply`: a JSON-lines changeset applied as one transaction, the way CI/CD
//! pipelines push many changes at once.
//!
//! ```text
//! {"op":"add","name":"www.example.com.","ttl":300,"type":"A","rdata":"192.0.2.1"}
//! {"op":"delete","name":"old.example.com.","type":"A"}                       (whole RRset)
//! {"op":"delete","name":"www.example.com.","type":"A","rdata":"192.0.2.9"}   (one record)
//! {"op":"delete-zone","zone":"retired.example."}
//! ```

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use lmdb_schema::Store;
use serde::Deserialize;

use super::record::{parse_record, SerialArgs};
use super::zone::name_key;
use crate::zones::{self, ZoneEdits};

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Changeset file, or `-` for standard input. One JSON object per line (blank lines are
    /// skipped): op "add" (name, ttl, type, rdata), "delete" (name, type, optional rdata: without
    /// it the whole RRset goes) or "delete-zone" (zone). Any bad line fails the whole changeset
    /// and nothing is written.
    #[arg(value_name = "FILE|-")]
    pub file: PathBuf,
    #[command(flatten)]
    pub serial: SerialArgs,
}

#[derive(Deserialize, Debug)]
#[serde(tag = "op", rename_all = "kebab-case", deny_unknown_fields)]
enum Change {
    Add {
        name: String,
        ttl: Ttl,
        #[serde(rename = "type")]
        rtype: String,
        rdata: String,
    },
    Delete {
        name: String,
        #[serde(rename = "type")]
        rtype: String,
        rdata: Option<String>,
    },
    DeleteZone {
        zone: String,
    },
}

/// A TTL as a JSON number or a string with units ("1h").
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum Ttl {
    Seconds(u64),
    Text(String),
}

pub fn run(store: &Store, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (label, reader): (String, Box<dyn Read>) = if args.file.as_os_str() == "-" {
        ("<stdin>".into(), Box::new(std::io::stdin()))
    } else {
        let file = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        (args.file.display().to_string(), Box::new(file))
    };
    let mut txn = store.write_txn()?;
    let mut edits = ZoneEdits::default();
    let mut applied = 0usize;
    for (index, line) in BufReader::new(reader).lines().enumerate() {
        let line_no = index + 1;
        let line = line.with_context(|| format!("{label}:{line_no}: reading"))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("{label}:{line_no}");
        let change: Change = serde_json::from_str(&line).with_context(|| format!("{}: not a valid change", at()))?;
        match change {
            Change::Add { name, ttl, rtype, rdata } => {
                let ttl = match ttl {
                    Ttl::Seconds(s) if s <= i32::MAX as u64 => s.to_string(),
                    Ttl::Seconds(s) => bail!("{}: TTL {s} is over 2^31-1", at()),
                    Ttl::Text(t) => t,
                };
                let (rr, _) = parse_record(&name, Some(&ttl), &rtype, Some(&rdata)).with_context(at)?;
                edits.add(store, &txn, &rr).with_context(at)?;
            }
            Change::Delete { name, rtype, rdata } => {
                let (rr, rdata) = parse_record(&name, None, &rtype, rdata.as_deref()).with_context(at)?;
                if edits.delete(store, &txn, &rr.owner, rr.rtype, rdata.as_deref(), b"").with_context(at)? == 0 {
                    return Err(anyhow!("no {} record at {name} matches", rtype.to_uppercase())).with_context(at);
                }
            }
            Change::DeleteZone { zone } => {
                let key = name_key(&zone).with_context(at)?;
                edits.forget(&key);
                zones::delete_zone(store, &mut txn, &key).with_context(at)?;
            }
        }
        applied += 1;
    }
    let summaries = edits.commit(store, &mut txn, !args.serial.no_serial_bump)?;
    txn.commit().map_err(|e| store.error(e))?;
    for s in &summaries {
        println!("{}: serial {}, {} records", s.apex, s.serial, s.records);
    }
    println!("applied {applied} changes");
    Ok(ExitCode::SUCCESS)
}
