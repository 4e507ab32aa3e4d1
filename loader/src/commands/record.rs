//! `lmdns-loader record ...`: single-record changes, found a zone by longest match.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use lmdb_schema::Store;

use crate::zonefile;
use crate::zones::{Rr, ZoneEdits};

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Add a record to the zone holding NAME (longest matching apex).
    ///
    /// Names are absolute (a missing final dot is implied), in the owner and in RDATA.
    /// Example: `record add www.example.com. 300 A 192.0.2.1`.
    Add {
        #[command(flatten)]
        serial: SerialArgs,
        /// Owner name.
        name: String,
        /// TTL in seconds or with units (1h30m, 1d, 1w).
        ttl: String,
        /// Record type (A, AAAA, MX, TXT, ... or TYPEnnn).
        #[arg(value_name = "TYPE")]
        rtype: String,
        /// RDATA in master-file syntax; several words are joined by spaces.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true, value_name = "RDATA")]
        rdata: Vec<String>,
    },
    /// Delete one record (with RDATA) or the whole RRset of TYPE at NAME.
    Delete {
        #[command(flatten)]
        serial: SerialArgs,
        name: String,
        #[arg(value_name = "TYPE")]
        rtype: String,
        #[arg(num_args = 0.., allow_hyphen_values = true, value_name = "RDATA")]
        rdata: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct SerialArgs {
    /// Leave the zone's SOA serial as it is (by default it is incremented, RFC 1982).
    #[arg(long)]
    pub no_serial_bump: bool,
}

fn absolute(text: &str) -> String {
    if text.ends_with('.') {
        text.to_string()
    } else {
        format!("{text}.")
    }
}

/// Parses NAME, TYPE and RDATA words as given on a command line or in a changeset.
pub fn parse_record(name: &str, ttl: Option<&str>, rtype: &str, rdata: Option<&str>) -> anyhow::Result<(Rr, Option<Vec<u8>>)> {
    let owner = zonefile::parse_name(&absolute(name), &[0]).map_err(|e| anyhow!("name {name}: {e}"))?;
    let rtype_code = zonefile::parse_type(rtype).ok_or_else(|| anyhow!("unknown record type {rtype}"))?;
    let ttl = match ttl {
        Some(t) => zonefile::parse_ttl(t).map_err(|e| anyhow!("TTL {t}: {e}"))?,
        None => 0,
    };
    let rdata = match rdata {
        Some(text) => Some(zonefile::parse_rdata(rtype_code, text, &[0]).map_err(|e| anyhow!("{rtype} RDATA {text:?}: {e}"))?),
        None => None,
    };
    let rr = Rr { owner, ttl, rtype: rtype_code, rdata: rdata.clone().unwrap_or_default(), condition: Vec::new() };
    Ok((rr, rdata))
}

pub fn run(store: &Store, command: RecordCommand) -> anyhow::Result<ExitCode> {
    let mut txn = store.write_txn()?;
    let mut edits = ZoneEdits::default();
    let bump = match &command {
        RecordCommand::Add { serial, name, ttl, rtype, rdata } => {
            let (rr, _) = parse_record(name, Some(ttl), rtype, Some(&rdata.join(" ")))?;
            if !edits.add(store, &txn, &rr)? {
                bail!("{} {} {} is already present", absolute(name), rtype.to_uppercase(), rdata.join(" "));
            }
            !serial.no_serial_bump
        }
        RecordCommand::Delete { serial, name, rtype, rdata } => {
            let joined = rdata.join(" ");
            let (rr, rdata_wire) = parse_record(name, None, rtype, (!rdata.is_empty()).then_some(joined.as_str()))?;
            if edits.delete(store, &txn, &rr.owner, rr.rtype, rdata_wire.as_deref(), b"")? == 0 {
                bail!("no {} record at {} matches", rtype.to_uppercase(), absolute(name));
            }
            !serial.no_serial_bump
        }
    };
    let summaries = edits.commit(store, &mut txn, bump)?;
    txn.commit().map_err(|e| store.error(e))?;
    for s in summaries {
        println!("{}: serial {}, {} records", s.apex, s.serial, s.records);
    }
    Ok(ExitCode::SUCCESS)
}
