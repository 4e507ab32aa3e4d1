//! `lmdns-loader --db DIR [--map-size N] ranges <command>`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lmdb_schema::ranges::DEFAULT_TABLE;
use lmdb_schema::Store;

use super::input::Format;
use super::write::{self, ImportOptions};

/// IP-range tables: map any IPv4/IPv6 address to the metadata of the range containing it.
#[derive(Debug, clap::Subcommand)]
pub enum RangesCommand {
    /// Replace a whole table with the ranges of FILE, in one transaction: readers see the old
    /// table or the new one, never a mix. On any bad line nothing is written and the error names
    /// the file, the line (both lines for overlaps and duplicate starts) and the reason.
    ///
    /// Input need not be sorted. Ranges need not be CIDR-aligned. A CIDR with host bits set
    /// (e.g. 10.0.0.1/8) is REJECTED, naming the network that was probably meant. IPv4-mapped
    /// IPv6 ranges (inside ::ffff:0:0/96) are stored as IPv4. Metadata cells become JSON values:
    /// empty = no member; a JSON number = number (integers over 64 bits stay strings); true,
    /// false, null, or text starting with { [ " that parses as JSON = that value; else a string.
    Import {
        /// Table to replace (created if missing).
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
        /// Input file.
        file: PathBuf,
        /// Input format. auto: .jsonl/.ndjson/.json → jsonl; otherwise by the first line
        /// ({ → jsonl; quoted integers → ip2location; network plus geoname_id or
        /// autonomous_system_number columns → maxmind; else csv); --locations implies maxmind.
        ///
        /// csv: header row, then `start,end` as IP text or one `network` CIDR column; every other
        /// column is metadata.
        /// jsonl: one object per line, {"start":"…","end":"…"} or {"network":"…"} plus metadata
        /// members.
        /// maxmind: GeoLite2 blocks CSV (City/Country `network,geoname_id,…` or ASN); all columns
        /// but network become metadata.
        /// ip2location: IP2Location LITE CSV, `"ip_from","ip_to",…` (inclusive integers). Keys by
        /// field count: DB1 country_code,country_name; DB3 adds region_name,city_name; DB5 adds
        /// latitude,longitude; DB9 adds zip_code; DB11 adds time_zone; ASN: cidr,asn,as; other
        /// layouts field3,field4,… (column numbers). "-" means no value; rows with no value at
        /// all are left out (lookups in them miss).
        #[arg(long, value_enum, default_value_t = Format::Auto, verbatim_doc_comment)]
        format: Format,
        /// GeoLite2 locations CSV (geoname_id,locale_code,continent_code,…) whose columns, except
        /// geoname_id and locale_code, are joined into each block's metadata by geoname_id (or,
        /// when that is empty, registered_country_geoname_id). Block columns win on equal names.
        /// An id missing from this file is an error.
        #[arg(long, value_name = "FILE")]
        locations: Option<PathBuf>,
        /// Accept an input with no ranges, emptying the table. Without it such an input (a
        /// header alone, a cut-off download) is refused and the table kept.
        #[arg(long)]
        allow_empty: bool,
        /// With --locations: store a location's members in every record that has them, not once
        /// as a part the records share. The table grows (GeoLite2-City-shaped: 159 -> 178 MB)
        /// but an uncached lookup makes one B-tree search fewer (the part's).
        #[arg(long, requires = "locations")]
        inline_locations: bool,
    },
    /// Add one range, refused if it overlaps the range before or after it or starts where
    /// another starts. Creates the table if missing.
    Add {
        /// Table to change.
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
        /// First address of the range.
        start: String,
        /// Last address of the range (inclusive, same family as START).
        end: String,
        /// Metadata: a JSON object without start, end or network members, e.g.
        /// '{"country":"NL","asn":1136}'.
        json: String,
    },
    /// Delete the range starting exactly at START.
    Delete {
        /// Table to change.
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
        /// First address of the range to delete.
        start: String,
    },
    /// Print one JSON line per address: {"ip":…,"start":…,"end":…,"meta":{…}}, or for an address
    /// in no range {"ip":…,"error":"not in any range"}. Exit status 1 if any address is in no
    /// range. IPv4-mapped IPv6 addresses are looked up as IPv4.
    Lookup {
        /// Table to search.
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
        /// Addresses to look up.
        #[arg(required = true, value_name = "IP")]
        ips: Vec<String>,
    },
    /// Write the table to stdout as CSV (start,end, then metadata keys sorted) that `import`
    /// reads back to the identical table. IPv4 ranges first.
    Export {
        /// Table to export.
        #[arg(long, default_value = DEFAULT_TABLE)]
        table: String,
    },
    /// Print one JSON line per table: {"table":…,"ipv4":N,"ipv6":M}.
    List,
    /// Delete a table and all its ranges: `ranges drop --table NAME` (like the other range
    /// commands; there is no default table here) or `ranges drop NAME`.
    Drop {
        /// Table to delete (the same as --table).
        #[arg(value_name = "NAME", required_unless_present = "table", conflicts_with = "table")]
        name: Option<String>,
        /// Table to delete.
        #[arg(long, value_name = "NAME")]
        table: Option<String>,
    },
}

/// Runs one `ranges` command. Results go to stdout, progress and summaries to stderr.
pub fn run(store: &Store, command: RangesCommand) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        RangesCommand::Import { table, file, format, locations, allow_empty, inline_locations } => {
            let options = ImportOptions { table: table.clone(), file, format, locations, progress: true, allow_empty, inline_locations };
            let report = write::import(store, &options)?;
            let skipped = if report.skipped > 0 { format!(", left out {} rows without data", report.skipped) } else { String::new() };
            eprintln!(
                "imported {} IPv4 and {} IPv6 ranges ({:?}, {} distinct metadata objects) into table {table} in {:.2}s{skipped}",
                report.v4, report.v6, report.format, report.distinct_metadata, report.seconds
            );
        }
        RangesCommand::Add { table, start, end, json } => {
            write::add(store, &table, &start, &end, &json)?;
            eprintln!("added {start}-{end} to table {table}");
        }
        RangesCommand::Delete { table, start } => {
            write::delete(store, &table, &start)?;
            eprintln!("deleted the range starting at {start} from table {table}");
        }
        RangesCommand::Lookup { table, ips } => {
            let all = write::lookup(store, &table, &ips, &mut out)?;
            out.flush().context("writing to stdout")?;
            if !all {
                return Ok(ExitCode::from(1));
            }
        }
        RangesCommand::Export { table } => {
            write::export(store, &table, &mut out)?;
        }
        RangesCommand::List => write::list(store, &mut out)?,
        RangesCommand::Drop { name, table } => {
            let name = name.or(table).expect("clap requires NAME or --table");
            write::drop_table(store, &name)?;
            eprintln!("dropped range table {name}");
        }
    }
    out.flush().context("writing to stdout")?;
    Ok(ExitCode::SUCCESS)
}
