//! Changing range tables, and the read-side commands of the loader (lookup, export, list).
//!
//! Every change is one LMDB write transaction made inside heed's
//! `create_databases_and_commit` (which commits the transaction it is given): on any error the
//! closure returns `Abort`, so nothing is committed and readers keep seeing the old table.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use heed::types::Bytes;
use heed::{CommitOrAbort, DatabaseOpener, PutFlags, RwTxn, WithTls};
use indicatif::{ProgressBar, ProgressStyle};
use lmdb_schema::ranges::{
    encode_shared_value, encode_value, meta_key, meta_key_bounds, part_key, schema_key, validate_table_name, Carry, RangeError, RangeTable,
    META_KEY_MAX, TABLES_DB,
};
use lmdb_schema::Store;
use serde_json::Value;

use super::input::{self, check_range, meta_from_map, parse_ip, string_needs_quoting, Format, Staged};

/// What `ranges import` does.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    pub table: String,
    pub file: PathBuf,
    pub format: Format,
    /// GeoLite2 locations CSV joined into `maxmind` metadata.
    pub locations: Option<PathBuf>,
    /// Show progress bars (still only when stderr is a terminal).
    pub progress: bool,
    /// An input without ranges empties the table instead of being refused.
    pub allow_empty: bool,
    /// With `locations`: keep each location's members in every record that has them instead of
    /// once as a shared part (a bigger table, one B-tree search fewer per uncached lookup).
    pub inline_locations: bool,
}

/// What an import did.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub format: Format,
    pub v4: u64,
    pub v6: u64,
    /// IP2Location rows without data, left out.
    pub skipped: u64,
    pub distinct_metadata: usize,
    pub seconds: f64,
}

fn bar(enabled: bool, message: &'static str, bytes: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = if bytes {
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
    } else {
        "{msg} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}"
    };
    let pb = ProgressBar::new(0).with_message(message);
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb
}

/// Replaces table `options.table` with the ranges of `options.file`, atomically.
pub fn import(store: &Store, options: &ImportOptions) -> Result<ImportReport> {
    let began = Instant::now();
    validate_table_name(&options.table)?;
    let name = options.file.display().to_string();
    let format = match options.format {
        Format::Auto => input::detect(&options.file, options.locations.is_some())?,
        f => f,
    };
    if options.locations.is_some() && format != Format::Maxmind {
        bail!("--locations only applies to --format maxmind (the input was read as {format:?})");
    }
    let reading = bar(options.progress, "reading", true);
    let mut staged = input::read(&options.file, format, options.locations.as_deref(), !options.inline_locations, &reading)?;
    reading.finish_and_clear();
    sort_and_check(&mut staged, &name)?;
    if staged.v4.is_empty() && staged.v6.is_empty() && !options.allow_empty {
        bail!("{name} has no ranges: refusing to empty table {} (pass --allow-empty if that is meant); nothing was changed", options.table);
    }

    let (v4, v6, skipped, distinct_metadata) = (staged.v4.len() as u64, staged.v6.len() as u64, staged.skipped, staged.metas.len());
    let total = v4 + v6;
    let writing = bar(options.progress, "writing", false);
    writing.set_length(total);
    let wtxn = store.write_txn()?;
    let outcome = store
        .env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            Ok(match fill(store, opener, wtxn, &options.table, staged, &writing) {
                Ok(table) => CommitOrAbort::Commit(table),
                Err(e) => CommitOrAbort::Abort(e),
            })
        })
        .map_err(|e| store.error(e))
        .with_context(|| format!("importing {name} into range table {}: nothing was committed", options.table))?;
    writing.finish_and_clear();
    if let CommitOrAbort::Abort(e) = outcome {
        return Err(e.context(format!("importing {name} into range table {}: nothing was committed", options.table)));
    }
    Ok(ImportReport { format, v4, v6, skipped, distinct_metadata, seconds: began.elapsed().as_secs_f64() })
}

/// Sorts each family by start and rejects duplicate starts and overlaps, naming both lines.
pub fn sort_and_check(staged: &mut Staged, name: &str) -> Result<()> {
    staged.v4.sort_unstable_by_key(|e| (e.start, e.line));
    for w in staged.v4.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (ip, end) = (|x: u32| Ipv4Addr::from(x), |x: u32| Ipv4Addr::from(x));
        check_pair(name, a.start == b.start, a.end >= b.start, (a.line, ip(a.start), end(a.end)), (b.line, ip(b.start), end(b.end)))?;
    }
    staged.v6.sort_unstable_by_key(|e| (e.start, e.line));
    for w in staged.v6.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let ip = |x: u128| Ipv6Addr::from(x);
        check_pair(name, a.start == b.start, a.end >= b.start, (a.line, ip(a.start), ip(a.end)), (b.line, ip(b.start), ip(b.end)))?;
    }
    Ok(())
}

fn check_pair<A: std::fmt::Display>(name: &str, same_start: bool, overlap: bool, a: (u32, A, A), b: (u32, A, A)) -> Result<()> {
    // Report at the later line, naming the earlier one too.
    let (first, second) = if a.0 <= b.0 { (&a, &b) } else { (&b, &a) };
    if same_start {
        bail!("{name}:{}: duplicate start {} (line {} starts a range there too)", second.0, second.1, first.0);
    }
    if overlap {
        bail!("{name}:{}: range {}-{} overlaps range {}-{} on line {}", second.0, second.1, second.2, first.1, first.2, first.0);
    }
    Ok(())
}

fn fill(
    store: &Store,
    opener: &DatabaseOpener<'static, WithTls>,
    wtxn: &mut RwTxn<'static>,
    table: &str,
    staged: Staged,
    progress: &ProgressBar,
) -> Result<RangeTable> {
    let lmdb = |e| anyhow::Error::from(store.error(e));
    let t = RangeTable::create_with(opener, wtxn, table).map_err(lmdb)?;
    t.v4.clear(wtxn).map_err(lmdb)?;
    t.v6.clear(wtxn).map_err(lmdb)?;
    clear_meta_records(wtxn, &t).map_err(lmdb)?;
    if !shares_metadata(&staged) {
        return fill_inline(wtxn, t, staged, progress, lmdb);
    }
    // Each distinct metadata object once (the shared form), as the arena keeps it (keyed
    // records, their key lists once each as schema records after them), numbered by use: the
    // most shared objects get the shortest ids in the range values (generated GeoLite2-City:
    // 4.19 hex digits per IPv4 range on average).
    let new_of_old = ids_by_use(&staged);
    let mut old_of_new = vec![0u32; new_of_old.len()];
    for (old, &new) in new_of_old.iter().enumerate() {
        old_of_new[new as usize] = old as u32;
    }
    // Records, parts, schemas: ascending keys (4-byte ids, then ff ff ff fe, then ff ff ff ff
    // prefixes), so they append while no other table's keys follow this table's.
    let mut key = [0u8; META_KEY_MAX];
    let mut put = Ascending { append: true };
    for (new, &old) in old_of_new.iter().enumerate() {
        let n = meta_key(table.as_bytes(), new as u32, &mut key);
        put.put(&t.tables, wtxn, &key[..n], staged.metas.get(old)).map_err(lmdb)?;
    }
    for id in 0..staged.metas.part_count() as u32 {
        let n = part_key(table.as_bytes(), id, &mut key);
        put.put(&t.tables, wtxn, &key[..n], staged.metas.part(id)).map_err(lmdb)?;
    }
    for id in 0..staged.metas.schema_count() as u32 {
        let n = schema_key(table.as_bytes(), id, &mut key);
        put.put(&t.tables, wtxn, &key[..n], staged.metas.schema(id)).map_err(lmdb)?;
    }
    // Each staged part is freed once written (large buffers go back to the system at once):
    // the write transaction's dirty pages, the whole new table, grow meanwhile.
    let Staged { v4, v6, metas, .. } = staged;
    drop(metas);
    let mut value = Vec::with_capacity(64);
    // Keys are sorted: APPEND skips the B-tree search and fills pages completely.
    for (i, e) in v4.iter().enumerate() {
        value.clear();
        encode_shared_value(IpAddr::V4(e.end.into()), new_of_old[e.meta as usize], &mut value);
        t.v4.put_with_flags(wtxn, PutFlags::APPEND, &e.start.to_be_bytes(), &value).map_err(lmdb)?;
        if i % 65536 == 0 {
            progress.set_position(i as u64);
        }
    }
    let n4 = v4.len();
    drop(v4);
    for (i, e) in v6.iter().enumerate() {
        value.clear();
        encode_shared_value(IpAddr::V6(e.end.into()), new_of_old[e.meta as usize], &mut value);
        t.v6.put_with_flags(wtxn, PutFlags::APPEND, &e.start.to_be_bytes(), &value).map_err(lmdb)?;
        if i % 65536 == 0 {
            progress.set_position((n4 + i) as u64);
        }
    }
    Ok(t)
}

/// Puts of ascending keys: with APPEND (no search, pages filled completely instead of split in
/// halves: `range_tables` of GeoLite2-City 89% -> 98% full) while they come after every key of
/// the database, plain puts from the first that does not (another table's keys after these).
struct Ascending {
    append: bool,
}

impl Ascending {
    fn put(&mut self, db: &heed::Database<Bytes, Bytes>, wtxn: &mut RwTxn, key: &[u8], value: &[u8]) -> Result<(), heed::Error> {
        if self.append {
            match db.put_with_flags(wtxn, PutFlags::APPEND, key, value) {
                // LMDB refuses before changing anything; the transaction stays usable.
                Err(heed::Error::Mdb(heed::MdbError::KeyExist)) => self.append = false,
                other => return other,
            }
        }
        db.put(wtxn, key, value)
    }
}

/// The stored id of each staged metadata object (index: the arena's id): ids by descending
/// number of ranges using the object, ties in arena order (so the ids are deterministic).
fn ids_by_use(staged: &Staged) -> Vec<u32> {
    let mut uses = vec![0u32; staged.metas.len()];
    for m in staged.v4.iter().map(|e| e.meta).chain(staged.v6.iter().map(|e| e.meta)) {
        uses[m as usize] = uses[m as usize].saturating_add(1);
    }
    let mut order: Vec<u32> = (0..uses.len() as u32).collect();
    order.sort_by_key(|&old| (std::cmp::Reverse(uses[old as usize]), old));
    let mut new_of_old = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        new_of_old[old as usize] = new as u32;
    }
    new_of_old
}

/// Whether the shared form pays: ranges share metadata objects. With (nearly) one object per
/// range a record per range would cost a second entry and a second get for nothing — the plain
/// replace of 500k unique rows went from 0.41–0.49 s to 0.62 s — so such tables stay inline.
fn shares_metadata(staged: &Staged) -> bool {
    staged.metas.len() * 2 <= staged.v4.len() + staged.v6.len()
}

/// Writes every range in the inline form (`{"end":…,metadata}`).
fn fill_inline(
    wtxn: &mut RwTxn<'static>,
    t: RangeTable,
    staged: Staged,
    progress: &ProgressBar,
    lmdb: impl Fn(heed::Error) -> anyhow::Error,
) -> Result<RangeTable> {
    let (mut value, mut object) = (Vec::with_capacity(512), Vec::with_capacity(512));
    for (i, e) in staged.v4.iter().enumerate() {
        staged.metas.object_into(e.meta, &mut object);
        value.clear();
        encode_value(IpAddr::V4(e.end.into()), &object, &mut value);
        t.v4.put_with_flags(wtxn, PutFlags::APPEND, &e.start.to_be_bytes(), &value).map_err(&lmdb)?;
        if i % 65536 == 0 {
            progress.set_position(i as u64);
        }
    }
    for (i, e) in staged.v6.iter().enumerate() {
        staged.metas.object_into(e.meta, &mut object);
        value.clear();
        encode_value(IpAddr::V6(e.end.into()), &object, &mut value);
        t.v6.put_with_flags(wtxn, PutFlags::APPEND, &e.start.to_be_bytes(), &value).map_err(&lmdb)?;
        if i % 65536 == 0 {
            progress.set_position((staged.v4.len() + i) as u64);
        }
    }
    Ok(t)
}

/// Deletes the metadata records of table `t`.
fn clear_meta_records(wtxn: &mut RwTxn<'static>, t: &RangeTable) -> Result<usize, heed::Error> {
    let (lo, hi) = meta_key_bounds(t.name());
    t.tables.delete_range(wtxn, &(std::ops::Bound::Included(&lo[..]), std::ops::Bound::Excluded(&hi[..])))
}

/// Opens an existing table or says clearly that there is none.
pub fn open_table(store: &Store, table: &str) -> Result<RangeTable> {
    RangeTable::open(store, table)?.ok_or_else(|| RangeError::NoSuchTable(table.to_string()).into())
}

/// Parses the metadata argument of `ranges add` into compact JSON (keys sorted).
pub fn parse_meta_arg(json: &str) -> Result<Vec<u8>> {
    let value: Value = serde_json::from_str(json).map_err(|e| anyhow!("metadata is not valid JSON: {e}"))?;
    let Value::Object(map) = value else {
        bail!("metadata is not a JSON object: {json}");
    };
    for reserved in ["start", "end", "network"] {
        if map.contains_key(reserved) {
            bail!("metadata may not have a {reserved:?} member (the range bounds are the START and END arguments)");
        }
    }
    let mut out = Vec::new();
    meta_from_map(&map, &[], &mut out);
    Ok(out)
}

/// Adds one range, checked against the ranges before and after it. Creates the table if needed.
/// Its metadata is stored inline (the first value form): one range, no record to share.
pub fn add(store: &Store, table: &str, start: &str, end: &str, json: &str) -> Result<()> {
    validate_table_name(table)?;
    let s = parse_ip(start).map_err(|e| anyhow!("START: {e}"))?;
    let e = parse_ip(end).map_err(|e| anyhow!("END: {e}"))?;
    let (s, e) = check_range(s, e).map_err(|e| anyhow!("{e}"))?;
    let meta = parse_meta_arg(json)?;
    let wtxn = store.write_txn()?;
    let outcome = store
        .env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let result = (|| -> Result<()> {
                let lmdb = |e| anyhow::Error::from(store.error(e));
                let t = RangeTable::create_with(opener, wtxn, table).map_err(lmdb)?;
                if let Some(prev) = t.floor(wtxn, s)? {
                    if prev.start == s {
                        bail!("a range already starts at {s} ({}-{}) in table {table}; delete it first", prev.start, prev.end);
                    }
                    if ip_le(s, prev.end) {
                        bail!("range {s}-{e} overlaps range {}-{} in table {table}", prev.start, prev.end);
                    }
                }
                if let Some(next) = t.next_after(wtxn, s)? {
                    if ip_le(next.start, e) {
                        bail!("range {s}-{e} overlaps range {}-{} in table {table}", next.start, next.end);
                    }
                }
                let mut value = Vec::new();
                encode_value(e, &meta, &mut value);
                let (db, key, _) = t.db_key(s);
                db.put(wtxn, &key, &value).map_err(lmdb)?;
                Ok(())
            })();
            Ok(match result {
                Ok(()) => CommitOrAbort::Commit(Carry(())),
                Err(e) => CommitOrAbort::Abort(e),
            })
        })
        .map_err(|e| store.error(e))?;
    match outcome {
        CommitOrAbort::Commit(()) => Ok(()),
        CommitOrAbort::Abort(e) => Err(e),
    }
}

fn ip_le(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
        _ => false,
    }
}

/// Deletes the range starting exactly at `start`.
pub fn delete(store: &Store, table: &str, start: &str) -> Result<()> {
    validate_table_name(table)?;
    let s = parse_ip(start).map_err(|e| anyhow!("START: {e}"))?;
    let t = open_table(store, table)?;
    let mut wtxn = store.write_txn()?;
    let (db, key, _) = t.db_key(s);
    if !db.delete(&mut wtxn, &key).map_err(|e| store.error(e))? {
        bail!("no range starts at {s} in table {table} (`ranges lookup` shows the range containing an address)");
    }
    wtxn.commit().map_err(|e| store.error(e))?;
    Ok(())
}

/// Empties and unregisters table `table`.
pub fn drop_table(store: &Store, table: &str) -> Result<()> {
    validate_table_name(table)?;
    let t = open_table(store, table)?;
    let wtxn = store.write_txn()?;
    store
        .env()
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let tables = opener.create_database::<Bytes, Bytes>(wtxn, Some(TABLES_DB))?;
            t.v4.clear(wtxn)?;
            t.v6.clear(wtxn)?;
            clear_meta_records(wtxn, &t)?;
            tables.delete(wtxn, table.as_bytes())?;
            Ok(CommitOrAbort::<_, ()>::Commit(Carry(())))
        })
        .map_err(|e| store.error(e))?;
    Ok(())
}

/// Writes one JSON line per address; returns whether every address was in a range.
/// A miss is the line `{"ip":"…","error":"not in any range"}`.
pub fn lookup(store: &Store, table: &str, ips: &[String], out: &mut dyn Write) -> Result<bool> {
    validate_table_name(table)?;
    let addrs: Vec<IpAddr> = ips.iter().map(|ip| parse_ip(ip).map_err(|e| anyhow!("{e}"))).collect::<Result<_>>()?;
    let t = open_table(store, table)?;
    let rtxn = store.read_txn()?;
    let mut all = true;
    for ip in addrs {
        match t.lookup(&rtxn, ip)? {
            Some(hit) => {
                let meta = hit.metadata_json()?;
                writeln!(out, r#"{{"ip":"{ip}","start":"{}","end":"{}","meta":{meta}}}"#, hit.start, hit.end)?;
            }
            None => {
                all = false;
                writeln!(out, r#"{{"ip":"{ip}","error":"not in any range"}}"#)?;
            }
        }
    }
    Ok(all)
}

/// Writes the table as CSV (`start,end,<metadata keys sorted>`) that `import --format csv`
/// reads back to the same table: strings that would read back as another JSON value (numbers,
/// `true`, JSON text) or the empty string are written JSON-quoted; objects, arrays, booleans and
/// null as JSON; absent members as empty cells. Returns the number of ranges written.
pub fn export(store: &Store, table: &str, out: &mut dyn Write) -> Result<u64> {
    validate_table_name(table)?;
    let t = open_table(store, table)?;
    let rtxn = store.read_txn()?;
    // Pass 1: the union of metadata keys (the header must come first).
    let mut keys = BTreeSet::new();
    for hit in t.iter(&rtxn)? {
        keys.extend(hit?.metadata()?.into_iter().map(|(k, _)| k));
    }
    let mut w = csv::WriterBuilder::new().from_writer(out);
    let mut header = vec!["start".to_string(), "end".to_string()];
    header.extend(keys.iter().cloned());
    w.write_record(&header)?;
    let mut n = 0;
    let mut row: Vec<String> = Vec::with_capacity(header.len());
    for hit in t.iter(&rtxn)? {
        let hit = hit?;
        let meta = hit.metadata()?;
        row.clear();
        row.push(hit.start.to_string());
        row.push(hit.end.to_string());
        for k in &keys {
            row.push(match meta.get(k) {
                None => String::new(),
                Some(Value::String(s)) if !string_needs_quoting(s) => s.clone(),
                Some(v) => serde_json::to_string(v)?,
            });
        }
        w.write_record(&row)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}

/// One JSON line per table: `{"table":"geo","ipv4":N,"ipv6":M}`.
pub fn list(store: &Store, out: &mut dyn Write) -> Result<()> {
    for name in RangeTable::list(store)? {
        let Some(t) = RangeTable::open(store, &name)? else { continue };
        let rtxn = store.read_txn()?;
        let (v4, v6) = t.counts(&rtxn).map_err(|e| store.error(e))?;
        writeln!(out, "{}", serde_json::json!({"table": name, "ipv4": v4, "ipv6": v6}))?;
    }
    Ok(())
}
