//! `lmdns-loader record ...`: single-record changes, found a zone by longest match.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use lmdb_schema::Store;

use crate::zonefile;
use crate::zones::{Rr, ZoneWriter};

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Add a record to the zone holding NAME (longest matching apex).
    ///
    /// Names are absolute (a missing final dot is implied), in the owner and in RDATA.
    /// Example: `record add www.example.com. 300 A 192.0.2.1`, or a variant served to clients
    /// whose range metadata matches: `record add --when country=DE www.example.com. 60 A 198.51.100.1`.
    Add {
        #[command(flatten)]
        serial: SerialArgs,
        #[command(flatten)]
        when: WhenArg,
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
    /// Delete one record (with RDATA) or the whole RRset of TYPE at NAME (the default RRset, or
    /// with --when the variant of that condition only).
    Delete {
        #[command(flatten)]
        serial: SerialArgs,
        #[command(flatten)]
        when: WhenArg,
        /// Owner name of the record(s).
        name: String,
        /// Record type (A, MX, TYPE65280, ...).
        #[arg(value_name = "TYPE")]
        rtype: String,
        /// The RDATA of the one record to delete, in master-file syntax; without it, the whole
        /// RRset goes.
        #[arg(num_args = 0.., allow_hyphen_values = true, value_name = "RDATA")]
        rdata: Vec<String>,
    },
}

#[derive(Args, Debug)]
pub struct SerialArgs {
    /// Do not increment the zone's SOA serial (by default each changed zone's serial goes up
    /// by one, RFC 1982). A change must still move the serial forward, or secondaries would
    /// never pick it up: with this flag it is refused unless the same change adds an SOA with
    /// a higher serial.
    #[arg(long)]
    pub no_serial_bump: bool,
}

#[derive(Args, Debug)]
pub struct WhenArg {
    /// The RRset variant chosen for clients whose IP-range metadata has KEY=VALUE (e.g.
    /// country=DE, continent=EU, pop=fra, asn=3320); without it, the default RRset. KEY is
    /// [a-z0-9_-]+, VALUE non-empty without '='. The zone's policy (`zone policy`) must list KEY
    /// for the variant ever to be served.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_when)]
    pub when: Option<Condition>,
}

/// A checked `key=value` condition.
#[derive(Clone, Debug)]
pub struct Condition(pub Vec<u8>);

impl WhenArg {
    /// The stored condition: empty for the default RRset.
    pub fn condition(&self) -> Vec<u8> {
        self.when.as_ref().map(|c| c.0.clone()).unwrap_or_default()
    }
}

fn parse_when(text: &str) -> Result<Condition, String> {
    crate::zones::geo::parse_condition(text).map(Condition)
}

fn when_suffix(cond: &[u8]) -> String {
    if cond.is_empty() {
        String::new()
    } else {
        format!(" (when {})", String::from_utf8_lossy(cond))
    }
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
    let mut writer = ZoneWriter::new(store, &mut txn);
    let bump = match &command {
        RecordCommand::Add { serial, when, name, ttl, rtype, rdata } => {
            let (mut rr, _) = parse_record(name, Some(ttl), rtype, Some(&rdata.join(" ")))?;
            rr.condition = when.condition();
            if !writer.add(&rr)? {
                bail!("{} {} {} is already present{}", absolute(name), rtype.to_uppercase(), rdata.join(" "), when_suffix(&rr.condition));
            }
            !serial.no_serial_bump
        }
        RecordCommand::Delete { serial, when, name, rtype, rdata } => {
            let joined = rdata.join(" ");
            let (rr, rdata_wire) = parse_record(name, None, rtype, (!rdata.is_empty()).then_some(joined.as_str()))?;
            let cond = when.condition();
            if writer.delete(&rr.owner, rr.rtype, rdata_wire.as_deref(), &cond)? == 0 {
                bail!("no {} record at {} matches{}", rtype.to_uppercase(), absolute(name), when_suffix(&cond));
            }
            !serial.no_serial_bump
        }
    };
    let summaries = writer.finish(bump)?;
    txn.commit().map_err(|e| store.error(e))?;
    crate::zones::writer::crash_point("record:after-commit");
    for s in summaries {
        for warning in &s.warnings {
            eprintln!("warning: {warning}");
        }
        println!("{}: serial {}, {} records", s.apex, s.serial, s.records);
    }
    Ok(ExitCode::SUCCESS)
}
