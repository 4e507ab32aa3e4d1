//! `lmdns-loader zone secondary ...` and `lmdns-loader catalog ...`: zones copied from
//! primaries and catalogs followed. Transfers themselves run in `lmdns-loader serve`, which
//! picks these settings up from the database as they commit.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Subcommand;
use lmdb_schema::Store;

use crate::secondary::config::{self, Added};
use crate::zones::ZoneWriter;

#[derive(Subcommand, Debug)]
pub enum SecondaryCommand {
    /// Copy zone NAME from its primaries (IXFR, else AXFR), kept fresh by its SOA timers and
    /// NOTIFY, served here once the first transfer succeeds. `lmdns-loader serve` does the
    /// transfers; run it. On a zone already secondary, replaces its primaries and key and
    /// refreshes it at once.
    Add {
        /// The zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// A primary, `ADDR:PORT` (IPv6 as `[ADDR]:PORT`; repeatable, tried in order). NOTIFY is
        /// accepted from these addresses (any port).
        #[arg(long = "primary", value_name = "ADDR:PORT", required = true)]
        primaries: Vec<SocketAddr>,
        /// TSIG key (see `key add`) that signs SOA queries and transfers, and that NOTIFY must
        /// be signed with.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
    /// Stop copying zones: their data goes with them (a followed catalog's member zones too).
    Remove {
        /// The apexes of the secondary zones to remove, with their data.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Follow catalog zone NAME (RFC 9432) from its primaries: the catalog is kept as a
    /// secondary zone, and each of its member zones becomes a secondary zone of the same
    /// primaries (or of its group's, see `catalog group`); members removed from the catalog are
    /// deleted here. Needs `lmdns-loader serve` running.
    Follow {
        /// The catalog zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// A primary of the catalog and, by default, of its members, `ADDR:PORT` (repeatable).
        #[arg(long = "primary", value_name = "ADDR:PORT", required = true)]
        primaries: Vec<SocketAddr>,
        /// TSIG key for the catalog's transfers and its members'.
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
    },
    /// Stop following catalog NAME: it and every member zone it brought are removed.
    Unfollow {
        /// The catalog zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Transfer the member zones of catalog group GROUP (RFC 9432 §4.4.2, the `group`
    /// property) from these primaries instead of their catalog's. With --clear they use their
    /// catalog's primaries again. Members already here switch at once.
    Group {
        /// The group name, as the catalog's `group` TXT record has it.
        #[arg(value_name = "GROUP")]
        group: String,
        /// A primary for the group's members, `ADDR:PORT` (repeatable, tried in order).
        #[arg(long = "primary", value_name = "ADDR:PORT", required_unless_present = "clear", conflicts_with = "clear")]
        primaries: Vec<SocketAddr>,
        /// TSIG key for the group's transfers.
        #[arg(long, value_name = "KEY", conflicts_with = "clear")]
        key: Option<String>,
        /// The group's members go back to their catalog's primaries.
        #[arg(long)]
        clear: bool,
    },
}

/// Runs `f` in one transaction with a writer that may touch secondary zones, then commits.
fn in_writer<T>(store: &Store, f: impl FnOnce(&mut ZoneWriter<'_, '_>) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut txn = store.write_txn()?;
    let mut writer = ZoneWriter::new(store, &mut txn);
    let value = f(&mut writer)?;
    writer.finish(true)?;
    txn.commit().map_err(|e| store.error(e))?;
    Ok(value)
}

fn added_text(added: &Added) -> &'static str {
    match added {
        Added::Created => "",
        Added::Changed => " (changed)",
        Added::Unchanged => " (unchanged)",
    }
}

fn list(primaries: &[SocketAddr]) -> String {
    primaries.iter().map(SocketAddr::to_string).collect::<Vec<_>>().join(", ")
}

pub fn run_secondary(store: &Store, command: SecondaryCommand) -> anyhow::Result<ExitCode> {
    match command {
        SecondaryCommand::Add { name, primaries, key } => {
            let added = in_writer(store, |w| config::add(w, &name, &primaries, key.as_deref(), false))?;
            println!("{}: secondary of {}{}", super::zone::absolute(&name), list(&primaries), added_text(&added));
        }
        SecondaryCommand::Remove { names } => {
            let removed = in_writer(store, |w| names.iter().map(|n| config::remove(w, n)).sum::<anyhow::Result<usize>>())?;
            println!("removed {removed} secondary zone(s)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_catalog(store: &Store, command: CatalogCommand) -> anyhow::Result<ExitCode> {
    match command {
        CatalogCommand::Follow { name, primaries, key } => {
            let added = in_writer(store, |w| config::add(w, &name, &primaries, key.as_deref(), true))?;
            println!("{}: catalog followed from {}{}", super::zone::absolute(&name), list(&primaries), added_text(&added));
        }
        CatalogCommand::Unfollow { name } => {
            let removed = in_writer(store, |w| {
                let apex = super::zone::name_key(&name)?;
                if !w.secondary(&apex)?.is_some_and(|s| s.consumer) {
                    anyhow::bail!("{} is not a followed catalog", super::zone::absolute(&name));
                }
                config::remove(w, &name)
            })?;
            println!("{}: unfollowed, {} zone(s) removed with it", super::zone::absolute(&name), removed);
        }
        CatalogCommand::Group { group, primaries, key, clear } => {
            let moved = in_writer(store, |w| config::set_group(w, &group, (!clear).then_some((primaries.as_slice(), key.as_deref()))))?;
            match clear {
                true => println!("catalog group {group}: members use their catalog's primaries ({moved} switched)"),
                false => println!("catalog group {group}: members from {} ({moved} switched)", list(&primaries)),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
