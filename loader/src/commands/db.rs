//! `lmdns-loader db ...`: facts about the database, and consistent backups.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use heed::CompactionOption;
use lmdb_schema::{Store, SCHEMA_VERSION};

use crate::zones;

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Path, map size, space used, zones and records, journal, keys, and secondary zones
    /// (how many, loaded, expired, failing; transfers and bytes; the longest time since a
    /// successful refresh, seconds).
    Info {
        /// Print one JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a compacted, consistent copy of the database to DEST (a directory, created if
    /// missing, usable as --db). Safe while the server and other loaders run: the copy is one
    /// read transaction.
    Backup {
        /// Directory to write the copy into (must not hold a data.mdb yet).
        #[arg(value_name = "DEST")]
        dest: PathBuf,
    },
    /// Create an empty database (for a server started before any zone is imported); on an
    /// existing one, does nothing but upgrade it like `db upgrade`.
    Init,
    /// Upgrade a database written by an older lmdns-loader to this build's schema version, in
    /// place and in one transaction (additions only: no zone is rewritten). Any write command
    /// does the same; lmdns-server refuses an old database until then.
    Upgrade,
    /// Show or set the IXFR journal bounds: how many changes and bytes of history each zone
    /// keeps (the oldest go first, in the commit that adds a new one). A secondary further
    /// behind than the journal gets a full transfer (AXFR) instead. New bounds apply from the
    /// next change of each zone.
    Journal {
        /// Changes kept per zone (default 1000).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        max_changes: Option<u64>,
        /// Bytes kept per zone, with K, M or G suffixes (default 16M).
        #[arg(long, value_name = "BYTES", value_parser = crate::cli::parse_size)]
        max_bytes: Option<usize>,
    },
}

pub fn run(store: &Store, path: &Path, command: DbCommand) -> anyhow::Result<ExitCode> {
    match command {
        DbCommand::Info { json } => {
            let txn = store.read_txn()?;
            let list = zones::list_zones(store, &txn)?;
            let records: u64 = list.iter().map(|z| z.records).sum();
            let env = store.env();
            let info = env.info();
            let page = store.names.stat(&txn).map_err(|e| store.error(e))?.page_size as u64;
            let used = (info.last_page_number as u64 + 1) * page;
            let change_counter = store.change_counter(&txn)?;
            let limits = zones::JournalLimits::read(store, &txn)?;
            let journal_entries: u64 = list.iter().map(|z| z.journal.entries()).sum();
            let journal_bytes: u64 = list.iter().map(|z| z.journal.bytes).sum();
            let tsig_keys = store.tsig_keys.len(&txn).map_err(|e| store.error(e))?;
            let zone_set_version = store.meta_u64(&txn, lmdb_schema::meta_keys::ZONE_SET_VERSION, 0)?;
            let secondaries = crate::secondary::list(store, &txn)?;
            let now = crate::secondary::now();
            let lag = |s: &lmdb_schema::secondary::SecondaryZone| now.saturating_sub(s.last_success.max(1));
            let facts = serde_json::json!({
                "path": path.display().to_string(),
                "schema_version": SCHEMA_VERSION,
                "map_size": info.map_size,
                "used": used,
                "zones": list.len(),
                "records": records,
                "change_counter": change_counter,
                "journal_max_changes": limits.max_changes,
                "journal_max_bytes": limits.max_bytes,
                "journal_entries": journal_entries,
                "journal_bytes": journal_bytes,
                "tsig_keys": tsig_keys,
                "zone_set_version": zone_set_version,
                "secondary_zones": secondaries.len(),
                "secondary_zones_loaded": secondaries.iter().filter(|(_, s)| s.serial.is_some()).count(),
                "secondary_zones_expired": secondaries.iter().filter(|(_, s)| s.expired).count(),
                "secondary_zones_failing": secondaries.iter().filter(|(_, s)| s.last_error.is_some()).count(),
                "secondary_transfers_ok": secondaries.iter().map(|(_, s)| s.transfers_ok).sum::<u64>(),
                "secondary_transfers_failed": secondaries.iter().map(|(_, s)| s.transfers_failed).sum::<u64>(),
                "secondary_bytes_in": secondaries.iter().map(|(_, s)| s.bytes_in).sum::<u64>(),
                "secondary_max_refresh_lag": secondaries.iter().filter(|(_, s)| s.serial.is_some()).map(|(_, s)| lag(s)).max().unwrap_or(0),
                "last_txn_id": info.last_txn_id,
                "readers": info.number_of_readers,
                "max_readers": info.maximum_number_of_readers,
            });
            if json {
                println!("{facts}");
            } else {
                for (key, value) in facts.as_object().expect("an object") {
                    println!("{key}: {}", value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string()));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Backup { dest } => {
            std::fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
            let file = dest.join("data.mdb");
            if file.exists() {
                bail!("{} already exists; back up into an empty directory", file.display());
            }
            // Copied under a temporary name and renamed when complete: a backup killed mid-way
            // leaves only `data.mdb.partial`, never a truncated `data.mdb` that looks whole.
            let partial = dest.join("data.mdb.partial");
            if partial.exists() {
                std::fs::remove_file(&partial).with_context(|| format!("removing the unfinished {}", partial.display()))?;
            }
            store
                .env()
                .copy_to_path(&partial, CompactionOption::Enabled)
                .with_context(|| format!("copying the database to {}", partial.display()))?;
            std::fs::File::open(&partial).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", partial.display()))?;
            std::fs::rename(&partial, &file).with_context(|| format!("renaming {} to {}", partial.display(), file.display()))?;
            if let Ok(dir) = std::fs::File::open(&dest) {
                let _ = dir.sync_all();
            }
            println!("backed up {} to {}", path.display(), dest.display());
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Init | DbCommand::Upgrade => {
            // Opening the store for writing created or upgraded it already (see `Store::open`).
            println!("{}: schema version {SCHEMA_VERSION}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        DbCommand::Journal { max_changes, max_bytes } => {
            let mut txn = store.write_txn()?;
            let mut limits = zones::JournalLimits::read(store, &txn)?;
            if max_changes.is_none() && max_bytes.is_none() {
                drop(txn);
                println!("journal: max {} changes, max {} bytes per zone", limits.max_changes, limits.max_bytes);
                return Ok(ExitCode::SUCCESS);
            }
            limits.max_changes = max_changes.unwrap_or(limits.max_changes);
            limits.max_bytes = max_bytes.map_or(limits.max_bytes, |b| b as u64);
            limits.write(store, &mut txn)?;
            txn.commit().map_err(|e| store.error(e))?;
            println!("journal: max {} changes, max {} bytes per zone", limits.max_changes, limits.max_bytes);
            Ok(ExitCode::SUCCESS)
        }
    }
}
