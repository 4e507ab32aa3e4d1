//! `lmdns-loader zone ...`: whole zones in, out and away.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use lmdb_schema::{name, Store};
use rayon::prelude::*;

use crate::zonefile::{self, ZoneFile};
use crate::zones::{self, Rr, ZoneTree};

#[derive(Subcommand, Debug)]
pub enum ZoneCommand {
    /// Import zone files, one zone per file, replacing each zone whole if present.
    ///
    /// The zone's origin comes from --origin, else the file's $ORIGIN, else the file name with a
    /// trailing `.zone` removed. All files are read and checked before anything is written; one
    /// bad file fails the command and leaves the database as it was.
    Import {
        /// Zone files (RFC 1035 master format).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Origin of the zone (only with a single FILE).
        #[arg(long, value_name = "NAME")]
        origin: Option<String>,
    },
    /// Import every `*.zone` file in a directory in one transaction (zone name from the file
    /// name, `example.com.zone` → `example.com.`, unless the file sets $ORIGIN). One bad file
    /// fails the whole command. Shows a progress bar on a terminal.
    ImportDir {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Delete zones (all named zones or none).
    Delete {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// List zones: name, SOA serial and record count.
    List {
        /// Print a JSON array of {"name","serial","records","last_change"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Write a zone as an RFC 1035 master file on stdout (imports back to the same records).
    Export {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub fn run(store: &Store, command: ZoneCommand) -> anyhow::Result<ExitCode> {
    match command {
        ZoneCommand::Import { files, origin } => {
            if origin.is_some() && files.len() > 1 {
                bail!("--origin applies to one zone file; {} were given", files.len());
            }
            let origin = origin.map(|o| zonefile::parse_name(&o, &[0]).map_err(|e| anyhow::anyhow!("--origin {o}: {e}"))).transpose()?;
            import(store, &files, origin.as_deref())
        }
        ZoneCommand::ImportDir { dir } => {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(&dir).with_context(|| format!("reading directory {}", dir.display()))? {
                let path = entry.with_context(|| format!("reading directory {}", dir.display()))?.path();
                if path.extension().is_some_and(|e| e == "zone") && path.is_file() {
                    files.push(path);
                }
            }
            files.sort();
            if files.is_empty() {
                bail!("no *.zone files in {}", dir.display());
            }
            import(store, &files, None)
        }
        ZoneCommand::Delete { names } => {
            let mut txn = store.write_txn()?;
            for text in &names {
                let key = name_key(text)?;
                zones::delete_zone(store, &mut txn, &key)?;
            }
            txn.commit().map_err(|e| store.error(e))?;
            for text in &names {
                println!("deleted {}", absolute(text));
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::List { json } => {
            let txn = store.read_txn()?;
            let list = zones::list_zones(store, &txn)?;
            let mut out = std::io::stdout().lock();
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(
                        |z| serde_json::json!({"name": z.apex, "serial": z.soa.serial, "records": z.records, "last_change": z.last_change}),
                    )
                    .collect();
                serde_json::to_writer(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                let width = list.iter().map(|z| z.apex.len()).max().unwrap_or(4).max(4);
                writeln!(out, "{:<width$}  {:>10}  {:>8}", "NAME", "SERIAL", "RECORDS")?;
                for z in &list {
                    writeln!(out, "{:<width$}  {:>10}  {:>8}", z.apex, z.soa.serial, z.records)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::Export { name: text } => {
            let key = name_key(&text)?;
            let txn = store.read_txn()?;
            let (tree, _) =
                zones::load_zone(store, &txn, &key)?.ok_or_else(|| anyhow::anyhow!("no zone {} in the database", absolute(&text)))?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            export(&tree, &mut out)?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes a zone as a master file: `$ORIGIN`, the SOA first, then every record in canonical
/// order with absolute names.
pub fn export(tree: &ZoneTree, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "$ORIGIN {}", tree.apex_text())?;
    let mut records: Vec<Rr> = tree.records().filter(|r| r.condition.is_empty()).collect();
    // SOA first, as every master-file reader expects.
    records.sort_by_key(|r| r.rtype != 6 || r.owner != name::key_to_wire(&tree.apex_key));
    for r in records {
        writeln!(out, "{}", zonefile::record_line(&r.owner, r.ttl, r.rtype, &r.rdata))?;
    }
    Ok(())
}

fn absolute(text: &str) -> String {
    if text.ends_with('.') {
        text.to_ascii_lowercase()
    } else {
        format!("{}.", text.to_ascii_lowercase())
    }
}

/// Name key of a name given on the command line (absolute; a missing final dot is implied).
pub fn name_key(text: &str) -> anyhow::Result<Vec<u8>> {
    let wire = zonefile::parse_name(&absolute(text), &[0]).map_err(|e| anyhow::anyhow!("{text}: {e}"))?;
    Ok(name::key_from_wire(&wire)?)
}

/// Zone files parsed per batch: bounds memory on huge imports while keeping both cores busy.
const BATCH: usize = 256;

fn import(store: &Store, files: &[PathBuf], origin: Option<&[u8]>) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = if std::io::stderr().is_terminal() && files.len() > 1 {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} zones {per_sec} {eta} {msg}").expect("valid template"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut txn = store.write_txn()?;
    let mut seen = std::collections::HashMap::<Vec<u8>, PathBuf>::new();
    let (mut zone_count, mut record_count) = (0u64, 0u64);
    let mut summaries = Vec::new();
    for batch in files.chunks(BATCH) {
        // Parse and build in parallel; write in file order in the one transaction.
        let trees: Vec<(PathBuf, ZoneTree)> =
            batch.par_iter().map(|path| read_zone(path, origin).map(|tree| (path.clone(), tree))).collect::<anyhow::Result<_>>()?;
        for (path, tree) in trees {
            if let Some(first) = seen.insert(tree.apex_key.clone(), path.clone()) {
                bail!("{} and {} both hold zone {}", first.display(), path.display(), tree.apex_text());
            }
            // Store errors (a full map) concern the whole transaction, not this file.
            let meta = match zones::replace_zone(store, &mut txn, tree, None) {
                Ok(meta) => meta,
                Err(e @ zones::ZoneError::Store(_)) => return Err(e.into()),
                Err(e) => return Err(anyhow::Error::new(e).context(path.display().to_string())),
            };
            zone_count += 1;
            record_count += meta.records;
            if files.len() <= 20 {
                summaries.push(format!("{}: {} records, serial {}", meta.apex, meta.records, meta.soa.serial));
            }
            progress.inc(1);
        }
    }
    txn.commit().map_err(|e| store.error(e))?;
    progress.finish_and_clear();
    for line in summaries {
        println!("{line}");
    }
    let secs = started.elapsed().as_secs_f64();
    println!("imported {zone_count} zones, {record_count} records in {secs:.2} s ({:.0} records/s)", record_count as f64 / secs.max(1e-9));
    Ok(ExitCode::SUCCESS)
}

/// Reads, checks and builds one zone file. Errors name the file and line.
pub fn read_zone(path: &Path, origin: Option<&[u8]>) -> anyhow::Result<ZoneTree> {
    let file: ZoneFile = zonefile::parse_file(path, origin)?;
    zonefile::validate_zone(&file)?;
    let mut tree = ZoneTree::new(&file.origin).with_context(|| path.display().to_string())?;
    for record in &file.records {
        let rr =
            Rr { owner: record.owner.clone(), ttl: record.ttl, rtype: record.rtype, rdata: record.rdata.clone(), condition: Vec::new() };
        tree.insert(&rr).with_context(|| format!("{}:{}", record.file.display(), record.line))?;
    }
    tree.finish().with_context(|| path.display().to_string())?;
    Ok(tree)
}
