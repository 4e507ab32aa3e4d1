//! `lmdns-loader zone ...`: whole zones in, out and away.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use lmdb_schema::{name, Store};
use rayon::prelude::*;

use lmdb_schema::secondary::SecondaryZone;
use lmdb_schema::zone::{GeoPolicy, NotifyTarget};

use super::apply;
pub use super::zone_files::{read_zone, read_zone_named, At, FilePattern, ImportedZone};
use crate::zonefile;
use crate::zones::{self, geo, Rr, ZoneTree};

#[derive(Subcommand, Debug)]
pub enum ZoneCommand {
    /// Import zone files, one zone per file, replacing each zone whole if present.
    ///
    /// The zone's origin comes from --origin, else the file's $ORIGIN, else the file name with a
    /// trailing `.zone` removed. A geo side file next to a zone file (`X.geo.jsonl` for
    /// `X.zone`, else `FILE.geo.jsonl`, as `zone export` writes it) adds its variants and sets
    /// its policy in the same transaction. All files are read and checked before anything is
    /// written; one bad file fails the command and leaves the database as it was.
    Import {
        /// Zone files (RFC 1035 master format).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Origin of the zone (only with a single FILE).
        #[arg(long, value_name = "NAME")]
        origin: Option<String>,
        /// Refuse records outside the zone (the file fails); by default they are dropped
        /// with a warning naming the line, as BIND and Knot do.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        serial: ImportSerialArgs,
    },
    /// Check zone files as `zone import` would, with no database.
    ///
    /// --db is not opened, nor created. Checked: syntax, RDATA, the zone rules (SOA and NS at the apex, CNAME alone, nothing
    /// outside the zone), the geo side file, whoami names, NSEC3 iterations and unsigned
    /// variants of signed zones, and no two files of one zone. Prints one `FILE:LINE: reason`
    /// line per problem on stderr, as the import does (reading a file stops at its first), and
    /// `FILE: zone NAME, N records: ok` on stdout for each good file. Exit code 0 when every
    /// file is fine, 1 otherwise. What only a database can tell (a serial not ahead of the one
    /// served, a secondary zone) is left to the import.
    Check(super::check::CheckArgs),
    /// Import every `*.zone` file (or every file --pattern matches) in a directory in one
    /// transaction (zone name from the file name, `example.com.zone` → `example.com.`, unless
    /// the file sets $ORIGIN), each with its geo side file `X.geo.jsonl` if present. One bad
    /// file fails the whole command. Shows a progress bar on a terminal.
    ImportDir {
        /// Directory holding the zone files.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Which files are zone files: one `*` stands for the zone name, as BIND directories
        /// name them (`db.*` for `db.example.com`, `*.db` for `example.com.db`). BIND
        /// journals (`*.jnl`) and hidden files are skipped.
        #[arg(long, value_name = "GLOB", default_value = "*.zone")]
        pattern: String,
        /// Refuse records outside the zone (the file fails); by default they are dropped
        /// with a warning naming the line, as BIND and Knot do.
        #[arg(long)]
        strict: bool,
        #[command(flatten)]
        serial: ImportSerialArgs,
    },
    /// Delete zones (all named zones or none).
    Delete {
        /// The apexes of the zones to delete (the final dot may be left out).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// List zones: name, SOA serial and record count.
    List {
        /// Print a JSON array of objects: name, kind ("primary": its data is written here;
        /// "secondary": copied from primaries), serial (null before a secondary zone's first
        /// transfer), records, last_change (Unix seconds), journal (entries and bytes of IXFR
        /// history kept), notify (the zone's own NOTIFY targets), group (catalog group, or
        /// null), catalog_id (its member label in generated catalogs), update_policy; and for
        /// secondary zones: primaries, key, catalog and member_id and catalog_group (when a
        /// followed catalog brought it), consumer (it is a followed catalog), last_refresh,
        /// last_success, next_refresh, expires_at (Unix seconds), expired, last_error,
        /// last_transfer ("AXFR", "IXFR"), transfers_ok, transfers_failed, bytes_in.
        #[arg(long)]
        json: bool,
    },
    /// Set the secondaries the server sends NOTIFY to when the zone's serial changes (RFC
    /// 1996), besides the server's own --notify targets. Replaces the zone's list; with
    /// --clear, empties it.
    Notify {
        /// The zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// Targets, `ADDR:PORT` (IPv6 as `[ADDR]:PORT`).
        #[arg(value_name = "ADDR:PORT", required_unless_present = "clear", conflicts_with = "clear")]
        targets: Vec<std::net::SocketAddr>,
        /// Sign the NOTIFY messages with this TSIG key (see `key add`).
        #[arg(long, value_name = "KEY", conflicts_with = "clear")]
        key: Option<String>,
        /// Send this zone's NOTIFY only to the server's --notify targets.
        #[arg(long)]
        clear: bool,
    },
    /// Set who may change the zone by DNS UPDATE (RFC 2136, through `lmdns-loader serve`),
    /// replacing its rules; with --clear, nobody; alone, prints the rules. Each RULE is one
    /// argument (quote it): `grant IDENTITY zonesub TYPE...`, or `grant IDENTITY
    /// name|subdomain|wildcard NAME TYPE...`. IDENTITY is a TSIG key name (requests signed with
    /// it) or a network CIDR (unsigned requests from there); TYPE a record type or ANY. E.g.
    /// 'grant certbot. subdomain _acme-challenge.example.com. TXT'. An UPDATE is allowed when
    /// every record it changes is granted by some rule. Settings: the serial does not change.
    UpdatePolicy {
        /// The zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// Rules (each quoted as one argument).
        #[arg(value_name = "RULE", conflicts_with = "clear")]
        rules: Vec<String>,
        /// Remove every rule: the zone takes no UPDATE.
        #[arg(long)]
        clear: bool,
    },
    /// Put the zone in a catalog group (RFC 9432 §4.4.2): generated catalogs list it with a
    /// `group` property, which consumers map to a configuration, and a catalog restricted to a
    /// group (`--catalog NAME=GROUP` on the server) lists only its zones. With --clear, takes the
    /// zone out of its group.
    Group {
        /// The zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// Group name: 1 to 63 bytes of letters, digits, '-' and '_'.
        #[arg(value_name = "GROUP", required_unless_present = "clear", conflicts_with = "clear")]
        group: Option<String>,
        /// Take the zone out of its group.
        #[arg(long)]
        clear: bool,
    },
    /// Zones copied from primaries: add, remove (the transfers run in `lmdns-loader serve`).
    #[command(subcommand)]
    Secondary(super::secondary::SecondaryCommand),
    /// Write a zone as an RFC 1035 master file on stdout (imports back to the same records).
    ///
    /// The master file holds the default data only. Geo variants and the zone's policy go to a
    /// side file of JSON lines in `apply` syntax, written only when asked: to --geo-file PATH, or
    /// beside --output (`example.com.zone` → `example.com.geo.jsonl`); `zone import` reads it
    /// back from beside the zone file. On stdout without --geo-file, a zone with variants gets a
    /// warning that they were left out. No file is ever removed.
    Export {
        /// The zone's apex (the final dot may be left out).
        #[arg(value_name = "NAME")]
        name: String,
        /// Write the master file to FILE instead of stdout (the side file goes beside it).
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Write the geo variants and policy to PATH (instead of beside --output).
        #[arg(long, value_name = "PATH")]
        geo_file: Option<PathBuf>,
    },
    /// Show, set or clear how geo variants are selected in a zone, and its whoami names.
    ///
    /// With --table and --keys, sets the policy: the IP-range table whose metadata is matched and
    /// the metadata keys to try, most specific first (`--table geo --keys pop,country,continent`).
    /// Each --whoami NAME makes NAME a whoami name of the zone, answered from the client's
    /// address: TXT with {"ip","ecs","start","end","meta"} from that table, A or AAAA with the
    /// address itself, TTL 0 (as the server's --whoami flag, but per zone and its table). The
    /// whole policy is replaced: names not given again stop being whoami names. With --clear,
    /// removes the policy and its whoami names (variants are then never served). Alone, prints
    /// the policy as JSON (`null` if none). A changed policy changes what is served, so the
    /// zone's SOA serial goes up by one (lmdns secondaries get the policy by IXFR).
    Policy {
        /// The zone's apex.
        #[arg(value_name = "NAME")]
        name: String,
        /// The IP-range table (see `ranges`).
        #[arg(long, value_name = "TABLE", requires = "keys", conflicts_with = "clear")]
        table: Option<String>,
        /// Metadata keys, comma-separated, most specific first.
        #[arg(long, value_name = "KEY,...", value_delimiter = ',', requires = "table", conflicts_with = "clear")]
        keys: Vec<String>,
        /// A whoami name answered from TABLE (repeatable). A name not ending in '.' is relative to
        /// the zone apex, as in zone files (`--whoami whoami` in example.com is
        /// whoami.example.com.). It must be strictly inside the zone, not a wildcard, not at or
        /// below a delegation point or DNAME, and own no records (adding one there is refused
        /// while it is a whoami name).
        #[arg(long, value_name = "NAME", requires = "table", conflicts_with = "clear")]
        whoami: Vec<String>,
        /// Remove the zone's policy (its whoami names too).
        #[arg(long)]
        clear: bool,
    },
}

/// How an import of a zone already served treats its serial.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct ImportSerialArgs {
    /// A zone already served whose content changed must come with a higher SOA serial (RFC
    /// 1982), else the import is refused: secondaries would never pick the change up. With this
    /// flag such a zone is served with the old serial plus one instead. An unchanged zone is
    /// left as it is either way (nothing is written, its serial stays).
    #[arg(long)]
    pub bump_serial: bool,
}

impl ImportSerialArgs {
    fn rule(self) -> zones::ImportSerial {
        if self.bump_serial {
            zones::ImportSerial::BumpIfBehind
        } else {
            zones::ImportSerial::MustAdvance
        }
    }
}

pub fn run(store: &Store, command: ZoneCommand) -> anyhow::Result<ExitCode> {
    match command {
        // Dispatched before any database is opened (see `cli::run`); kept working here too.
        ZoneCommand::Check(args) => super::check::run(&args),
        ZoneCommand::Import { files, origin, strict, serial } => {
            if origin.is_some() && files.len() > 1 {
                bail!("--origin applies to one zone file; {} were given", files.len());
            }
            let origin = origin.map(|o| zonefile::parse_name(&o, &[0]).map_err(|e| anyhow::anyhow!("--origin {o}: {e}"))).transpose()?;
            import(store, &files, origin.as_deref(), None, strict, serial.rule())
        }
        ZoneCommand::ImportDir { dir, pattern, strict, serial } => {
            let pattern = FilePattern::parse(&pattern)?;
            let files = pattern.files_in(&dir)?;
            if files.is_empty() {
                bail!("no {pattern} files in {}", dir.display());
            }
            import(store, &files, None, Some(&pattern), strict, serial.rule())
        }
        ZoneCommand::Delete { names } => {
            let mut txn = store.write_txn()?;
            let mut writer = zones::ZoneWriter::new(store, &mut txn);
            for text in &names {
                let key = name_key(text)?;
                writer.delete_zone(&key)?;
            }
            writer.finish(true)?;
            txn.commit().map_err(|e| store.error(e))?;
            for text in &names {
                println!("deleted {}", absolute(text));
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::List { json } => {
            let txn = store.read_txn()?;
            let keyed = zones::list_zones_with_keys(store, &txn)?;
            let mut secondaries: std::collections::BTreeMap<Vec<u8>, _> = crate::secondary::list(store, &txn)?.into_iter().collect();
            // Zones with data, then secondary zones not transferred yet, in canonical order.
            let mut rows: Vec<(Vec<u8>, Option<&lmdb_schema::zone::ZoneMeta>, Option<SecondaryZone>)> =
                keyed.iter().map(|(key, meta)| (key.clone(), Some(meta), secondaries.remove(key))).collect();
            rows.extend(secondaries.into_iter().map(|(key, s)| (key, None, Some(s))));
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out = std::io::stdout().lock();
            if json {
                let rows: Vec<_> = rows.iter().map(|(key, meta, secondary)| zone_row(key, *meta, secondary.as_ref())).collect();
                serde_json::to_writer(&mut out, &rows)?;
                writeln!(out)?;
            } else {
                let text = |key: &[u8], meta: Option<&lmdb_schema::zone::ZoneMeta>| {
                    meta.map_or_else(|| name::key_to_text(key), |m| m.apex.clone())
                };
                let width = rows.iter().map(|(k, m, _)| text(k, *m).len()).max().unwrap_or(4).max(4);
                // The KIND column only once there are secondary zones: a primary-only
                // database lists as it always has.
                let kinds = rows.iter().any(|(_, _, s)| s.is_some());
                let header = if kinds { "  KIND" } else { "" };
                writeln!(out, "{:<width$}  {:>10}  {:>8}{header}", "NAME", "SERIAL", "RECORDS")?;
                for (key, meta, secondary) in &rows {
                    let serial = meta.map_or_else(|| "-".to_string(), |m| m.soa.serial.to_string());
                    let records = meta.map_or(0, |m| m.records);
                    let kind = match secondary {
                        None => "primary".to_string(),
                        Some(s) if s.expired => "secondary (expired)".to_string(),
                        Some(s) => match &s.last_error {
                            Some(e) => format!("secondary (last refresh failed: {e})"),
                            None => "secondary".to_string(),
                        },
                    };
                    let kind = if kinds { format!("  {kind}") } else { String::new() };
                    writeln!(out, "{:<width$}  {serial:>10}  {records:>8}{kind}", text(key, *meta))?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::Export { name: text, output, geo_file } => {
            let key = name_key(&text)?;
            let txn = store.read_txn()?;
            let (tree, meta) =
                zones::load_zone(store, &txn, &key)?.ok_or_else(|| anyhow::anyhow!("no zone {} in the database", absolute(&text)))?;
            drop(txn);
            let side_path = geo_file.or_else(|| output.as_deref().map(geo::side_file_for));
            let side = geo::side_lines(&tree, meta.policy.as_ref());
            match &output {
                Some(path) => {
                    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                    let mut out = std::io::BufWriter::new(file);
                    export(&tree, &mut out).and_then(|_| out.flush()).with_context(|| format!("writing {}", path.display()))?;
                }
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    export(&tree, &mut out)?;
                    out.flush()?;
                }
            }
            let variants = side.len() - meta.policy.is_some() as usize;
            let Some(side_path) = side_path else {
                if !side.is_empty() {
                    eprintln!(
                        "warning: {} has {variants} geo variant records{}, not in this master file: give --geo-file PATH to export them",
                        meta.apex,
                        if meta.policy.is_some() { " and a geo policy" } else { "" }
                    );
                }
                return Ok(ExitCode::SUCCESS);
            };
            if side.is_empty() {
                if side_path.is_file() {
                    // Not removed: it may not be ours. Said, because `zone import` would read it.
                    eprintln!(
                        "warning: {} has no geo variants or policy, but {} exists and `zone import` would read it back",
                        meta.apex,
                        side_path.display()
                    );
                }
            } else {
                let mut text = side.join("\n");
                text.push('\n');
                std::fs::write(&side_path, text).with_context(|| format!("writing {}", side_path.display()))?;
                let policy = if meta.policy.is_some() { " and the policy" } else { "" };
                eprintln!("wrote {variants} geo variant records{policy} of {} to {}", meta.apex, side_path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::Secondary(command) => super::secondary::run_secondary(store, command),
        ZoneCommand::Policy { name: text, table, keys, whoami, clear } => policy(store, &text, table, keys, whoami, clear),
        ZoneCommand::Notify { name: text, targets, key, clear: _ } => {
            let apex = name_key(&text)?;
            let key = key.map(|k| super::key::key_name(&k)).transpose()?;
            let mut txn = store.write_txn()?;
            if let Some(key) = &key {
                if store.tsig_keys.get(&txn, &name::key_from_dotted(key)?).map_err(|e| store.error(e))?.is_none() {
                    bail!("no TSIG key {key} in the database (add it with `key add` or `key import`)");
                }
            }
            let targets: Vec<NotifyTarget> = targets.into_iter().map(|addr| NotifyTarget { addr, key: key.clone() }).collect();
            let mut writer = zones::ZoneWriter::new(store, &mut txn);
            let changed = writer.set_notify(&apex, targets.clone())?;
            writer.finish(true)?;
            txn.commit().map_err(|e| store.error(e))?;
            let list: Vec<String> = targets.iter().map(|t| t.addr.to_string()).collect();
            let with_key = key.map(|k| format!(", signed with {k}")).unwrap_or_default();
            let state = if changed { "" } else { " (unchanged)" };
            match list.is_empty() {
                true => println!("{}: no NOTIFY targets of its own{state}", name::key_to_text(&apex)),
                false => println!("{}: NOTIFY to {}{with_key}{state}", name::key_to_text(&apex), list.join(", ")),
            }
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::UpdatePolicy { name: text, rules, clear } => {
            let apex = name_key(&text)?;
            let apex_text = name::key_to_text(&apex);
            if rules.is_empty() && !clear {
                let txn = store.read_txn()?;
                let (_, meta) =
                    zones::load_zone(store, &txn, &apex)?.ok_or_else(|| anyhow::anyhow!("no zone {apex_text} in the database"))?;
                for rule in &meta.update_policy {
                    println!("{}", crate::update::policy::rule_text(rule));
                }
                return Ok(ExitCode::SUCCESS);
            }
            let parsed = rules
                .iter()
                .flat_map(|r| r.split(';').map(str::trim).filter(|r| !r.is_empty()))
                .map(|r| crate::update::policy::parse_rule(r, &apex_text))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("update policy of {apex_text}: {e}"))?;
            let mut txn = store.write_txn()?;
            for key in parsed.iter().filter_map(|r| r.identity.strip_prefix("key:")) {
                if store.tsig_keys.get(&txn, &name::key_from_dotted(key)?).map_err(|e| store.error(e))?.is_none() {
                    eprintln!("warning: no TSIG key {key} in the database yet (add it with `key add` or `key import`)");
                }
            }
            let mut writer = zones::ZoneWriter::new(store, &mut txn);
            let changed = writer.set_update_policy(&apex, parsed.clone())?;
            writer.finish(true)?;
            txn.commit().map_err(|e| store.error(e))?;
            let state = if changed { "" } else { " (unchanged)" };
            println!("{apex_text}: {} update rule(s){state}", parsed.len());
            Ok(ExitCode::SUCCESS)
        }
        ZoneCommand::Group { name: text, group, clear: _ } => {
            let apex = name_key(&text)?;
            if let Some(g) = &group {
                check_group(g)?;
            }
            let mut txn = store.write_txn()?;
            let mut writer = zones::ZoneWriter::new(store, &mut txn);
            let changed = writer.set_group(&apex, group.clone())?;
            writer.finish(true)?;
            txn.commit().map_err(|e| store.error(e))?;
            let state = if changed { "" } else { " (unchanged)" };
            match group {
                Some(g) => println!("{}: catalog group {g}{state}", name::key_to_text(&apex)),
                None => println!("{}: no catalog group{state}", name::key_to_text(&apex)),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A catalog group name: it becomes a TXT string and, on consumers, a configuration name.
fn check_group(group: &str) -> anyhow::Result<()> {
    if group.is_empty() || group.len() > 63 || !group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        bail!("catalog group {group:?}: use 1 to 63 letters, digits, '-' and '_'");
    }
    Ok(())
}

/// One zone as `zone list --json` shows it: a zone with data (`meta`), a secondary zone
/// (`secondary`), or both.
fn zone_row(apex_key: &[u8], meta: Option<&lmdb_schema::zone::ZoneMeta>, secondary: Option<&SecondaryZone>) -> serde_json::Value {
    let id = lmdb_schema::catalog::member_label(&lmdb_schema::catalog::member_id(apex_key));
    let mut row = serde_json::json!({
        "name": meta.map_or_else(|| name::key_to_text(apex_key), |z| z.apex.clone()),
        "kind": if secondary.is_some() { "secondary" } else { "primary" },
        "serial": meta.map(|z| z.soa.serial),
        "records": meta.map_or(0, |z| z.records),
        "last_change": meta.map(|z| z.last_change),
        "journal": {"entries": meta.map_or(0, |z| z.journal.entries()), "bytes": meta.map_or(0, |z| z.journal.bytes)},
        "notify": meta.map(|z| z.notify.clone()).unwrap_or_default(),
        "group": meta.and_then(|z| z.group.clone()),
        "catalog_id": id,
        "update_policy": meta.map(|z| z.update_policy.iter().map(crate::update::policy::rule_text).collect::<Vec<_>>()).unwrap_or_default(),
    });
    if let Some(s) = secondary {
        let fields = serde_json::json!({
            "primaries": s.primaries.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "key": s.key,
            "catalog": s.catalog,
            "member_id": s.member_id,
            "catalog_group": s.group,
            "consumer": s.consumer,
            "last_refresh": s.last_refresh,
            "last_success": s.last_success,
            "next_refresh": s.next_refresh,
            "expires_at": s.expires_at,
            "expired": s.expired,
            "last_error": s.last_error,
            "last_transfer": s.last_transfer,
            "transfers_ok": s.transfers_ok,
            "transfers_failed": s.transfers_failed,
            "bytes_in": s.bytes_in,
        });
        row.as_object_mut().expect("an object").extend(fields.as_object().expect("an object").clone());
    }
    row
}

fn policy(
    store: &Store,
    text: &str,
    table: Option<String>,
    keys: Vec<String>,
    whoami: Vec<String>,
    clear: bool,
) -> anyhow::Result<ExitCode> {
    let key = name_key(text)?;
    let apex = absolute(text);
    let new = match (table, clear) {
        (None, false) => {
            let txn = store.read_txn()?;
            let (_, meta) = zones::load_zone(store, &txn, &key)?.ok_or_else(|| anyhow::anyhow!("no zone {apex} in the database"))?;
            println!("{}", serde_json::to_string(&meta.policy)?);
            return Ok(ExitCode::SUCCESS);
        }
        (Some(table), _) => {
            let (_, policy) = apply::policy_op(&apex, table, keys, whoami)?;
            Some(policy)
        }
        (None, true) => None,
    };
    let mut txn = store.write_txn()?;
    let mut edits = zones::ZoneWriter::new(store, &mut txn);
    let changed = edits.set_policy(&name::key_to_wire(&key), new.clone())?;
    let summaries = edits.finish(true)?;
    txn.commit().map_err(|e| store.error(e))?;
    for s in &summaries {
        for warning in &s.warnings {
            eprintln!("warning: {warning}");
        }
    }
    let state = match summaries.first() {
        Some(s) if changed => format!(", serial {}", s.serial),
        _ => " (unchanged)".to_string(),
    };
    match &new {
        Some(p) => {
            let whoami = if p.whoami.is_empty() { String::new() } else { format!(", whoami {}", p.whoami.join(",")) };
            println!("{apex}: policy table {}, keys {}{whoami}{state}", p.table, p.keys.join(","))
        }
        None => println!("{apex}: no policy{state}"),
    }
    warn_missing_tables(store, new.iter());
    Ok(ExitCode::SUCCESS)
}

/// Warns (stderr) about policies naming a range table that does not exist (yet): their zones'
/// variants are not served until it is imported. Call outside any write transaction.
pub(crate) fn warn_missing_tables<'a>(store: &Store, policies: impl Iterator<Item = &'a GeoPolicy>) {
    let policies: Vec<&GeoPolicy> = policies.collect();
    if policies.is_empty() {
        return;
    }
    let Ok(tables) = lmdb_schema::ranges::RangeTable::list(store) else { return };
    let mut warned = std::collections::BTreeSet::new();
    for p in policies {
        if !tables.contains(&p.table) && warned.insert(p.table.clone()) {
            eprintln!("warning: range table {:?} does not exist (yet); import it with `ranges import`", p.table);
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

pub(crate) fn absolute(text: &str) -> String {
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

fn import(
    store: &Store,
    files: &[PathBuf],
    origin: Option<&[u8]>,
    pattern: Option<&FilePattern>,
    strict: bool,
    serial: zones::ImportSerial,
) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let progress = if std::io::stderr().is_terminal() && files.len() > 1 {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} zones {per_sec} {eta} {msg}").expect("valid template"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut txn = store.write_txn()?;
    let mut writer = zones::ZoneWriter::new(store, &mut txn);
    let mut seen = std::collections::HashMap::<Vec<u8>, PathBuf>::new();
    // Apex keys in file order, for the report (a lookup by path in `seen` was O(files²): 100k
    // files took minutes).
    let mut apexes = Vec::with_capacity(files.len());
    let mut side_files = std::collections::HashMap::<String, (usize, PathBuf)>::new();
    let mut warnings = Vec::new();
    for batch in files.chunks(BATCH) {
        // Parse and build in parallel; write in file order in the one transaction.
        let zones: Vec<(PathBuf, ImportedZone)> = batch
            .par_iter()
            .map(|path| {
                let name_origin = pattern.and_then(|p| p.origin_of(path));
                read_zone_named(path, origin, name_origin.as_deref(), strict).map(|zone| (path.clone(), zone))
            })
            .collect::<anyhow::Result<_>>()?;
        for (path, ImportedZone { tree, policy, side_file, warnings: read_warnings }) in zones {
            warnings.extend(read_warnings);
            if let Some(first) = seen.insert(tree.apex_key.clone(), path.clone()) {
                bail!("{} and {} both hold zone {}", first.display(), path.display(), tree.apex_text());
            }
            apexes.push(tree.apex_key.clone());
            let variants = geo::variants(&tree);
            let (apex, apex_key) = (tree.apex_text(), tree.apex_key.clone());
            // Store errors (a full map) concern the whole transaction, not this file.
            match writer.replace_zone(tree, policy.map(Some), serial).and_then(|()| writer.check_serial(&apex_key)) {
                Ok(()) => {}
                Err(e @ zones::ZoneError::Store(_)) => return Err(e.into()),
                Err(e) => return Err(anyhow::Error::new(e).context(path.display().to_string())),
            }
            let policy = writer.pending_policy(&apex_key);
            warnings.extend(geo::unmatchable(&apex, &variants, policy.as_ref()));
            if let Some(side) = side_file {
                side_files.insert(apex, (variants.len(), side));
            }
            progress.inc(1);
        }
    }
    let summaries = writer.finish(true)?;
    txn.commit().map_err(|e| store.error(e))?;
    progress.finish_and_clear();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let (mut changed, mut unchanged, mut records) = (0u64, 0u64, 0u64);
    let mut policies = Vec::new();
    let summary_by_apex: std::collections::HashMap<&str, &zones::ZoneSummary> = summaries.iter().map(|s| (s.apex.as_str(), s)).collect();
    for apex in &apexes {
        let apex = name::key_to_text(apex);
        match summary_by_apex.get(apex.as_str()) {
            Some(s) => {
                changed += 1;
                records += s.records;
                if files.len() <= 20 {
                    if let Some((count, side)) = side_files.get(&apex) {
                        println!("{apex}: {count} geo variant RRsets from {}", side.display());
                    }
                    println!("{apex}: {} records, serial {}", s.records, s.serial);
                }
                policies.extend(s.policy.clone());
            }
            None => {
                unchanged += 1;
                if files.len() <= 20 {
                    println!("{apex}: unchanged");
                }
            }
        }
    }
    policies.sort_by(|a: &GeoPolicy, b| a.table.cmp(&b.table));
    policies.dedup_by(|a, b| a.table == b.table);
    warn_missing_tables(store, policies.iter());
    let secs = started.elapsed().as_secs_f64();
    let zones_word = if changed == 1 { "zone" } else { "zones" };
    let unchanged = if unchanged > 0 { format!(" ({unchanged} unchanged)") } else { String::new() };
    println!(
        "imported {changed} {zones_word}{unchanged}, {records} records in {secs:.2} s ({:.0} records/s)",
        records as f64 / secs.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}
