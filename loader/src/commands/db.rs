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
    /// Path, map size, space used, zones and records.
    Info {
        /// Print one JSON object instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Write a compacted, consistent copy of the database to DEST (a directory, created if
    /// missing, usable as --db). Safe while the server and other loaders run: the copy is one
    /// read transaction.
    Backup {
        #[arg(value_name = "DEST")]
        dest: PathBuf,
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
            let facts = serde_json::json!({
                "path": path.display().to_string(),
                "schema_version": SCHEMA_VERSION,
                "map_size": info.map_size,
                "used": used,
                "zones": list.len(),
                "records": records,
                "change_counter": change_counter,
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
            store
                .env()
                .copy_to_path(&file, CompactionOption::Enabled)
                .with_context(|| format!("copying the database to {}", file.display()))?;
            println!("backed up {} to {}", path.display(), dest.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
