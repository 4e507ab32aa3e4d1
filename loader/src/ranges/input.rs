//! Reading range files into [`Staged`] ranges.
//!
//! Memory: an import of millions of rows keeps, per range, a fixed-size entry (16 bytes for
//! IPv4, 48 for IPv6: start, end, input line, metadata id) and, per *distinct* metadata object,
//! its stored form once ([`MetaArena`] interns them: GeoLite2 and IP2Location files repeat the
//! same few hundred thousand objects over millions of rows). The stored value is assembled only
//! when it is written.
//!
//! Metadata cells (CSV, GeoLite2, IP2Location) become JSON values by one rule, which `export`
//! inverts: an empty cell is no member; a cell that is a JSON number is a number (stored in its
//! canonical form, `1.50` → `1.5`; integers beyond 64 bits stay strings so no digit is lost); a
//! cell that is `true`, `false`, `null`, or starts with `{`, `[` or `"` and parses as JSON is
//! that JSON value; anything else is a string.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::ProgressBar;
use lmdb_schema::ranges::normalize;

use super::arena::Interner;
pub use super::arena::MetaArena;
use super::rows::Bounds;
use serde_json::{Map, Value};

/// Input formats of `ranges import`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Pick by extension (.jsonl/.ndjson/.json → jsonl) and by sniffing the first line.
    Auto,
    /// Header row; `start,end` (IP text) or `network` (CIDR); other columns are metadata.
    Csv,
    /// One JSON object per line: `start`+`end` or `network`, other members are metadata.
    Jsonl,
    /// GeoLite2 blocks CSV (`network,geoname_id,…` or the ASN file); see `--locations`.
    Maxmind,
    /// IP2Location LITE CSV: `"ip_from","ip_to",…` as quoted integers, no header.
    Ip2location,
}

/// One staged IPv4 range. `line` is the input line, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct E4 {
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub meta: u32,
}

/// One staged IPv6 range.
#[derive(Clone, Copy, Debug)]
pub struct E6 {
    pub start: u128,
    pub end: u128,
    pub line: u32,
    pub meta: u32,
}

/// Ranges read from one input, unsorted and unchecked against each other.
#[derive(Default)]
pub struct Staged {
    pub v4: Vec<E4>,
    pub v6: Vec<E6>,
    pub metas: MetaArena,
    /// IP2Location rows without any data (all fields `-`), left out.
    pub skipped: u64,
}

impl Staged {
    /// Adds one range; the error is the reason only (the caller adds file and line).
    pub fn push(&mut self, start: IpAddr, end: IpAddr, meta: &[u8], line: u64) -> Result<(), String> {
        let meta = self.metas.intern(meta).map_err(|e| e.to_string())?;
        self.push_id(start, end, meta, line)
    }

    /// Adds one range whose metadata is interned already (id `meta`).
    pub fn push_id(&mut self, start: IpAddr, end: IpAddr, meta: u32, line: u64) -> Result<(), String> {
        let line = u32::try_from(line).unwrap_or(u32::MAX);
        match check_range(start, end)? {
            (IpAddr::V4(s), IpAddr::V4(e)) => self.v4.push(E4 { start: s.into(), end: e.into(), line, meta }),
            (IpAddr::V6(s), IpAddr::V6(e)) => self.v6.push(E6 { start: s.into(), end: e.into(), line, meta }),
            _ => unreachable!("check_range returns one family"),
        }
        Ok(())
    }
}

/// Normalizes both ends (IPv4-mapped IPv6 → IPv4) and checks family and order.
pub fn check_range(start: IpAddr, end: IpAddr) -> Result<(IpAddr, IpAddr), String> {
    let (s, e) = (normalize(start), normalize(end));
    let ordered = match (s, e) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a <= b,
        (IpAddr::V6(a), IpAddr::V6(b)) => a <= b,
        _ => return Err(format!("start {start} and end {end} are of different address families (IPv4-mapped IPv6 counts as IPv4)")),
    };
    if !ordered {
        return Err(format!("start {start} is after end {end}"));
    }
    Ok((s, e))
}

/// Parses an address, naming it in the error.
pub fn parse_ip(text: &str) -> Result<IpAddr, String> {
    text.trim().parse::<IpAddr>().map_err(|_| format!("unparsable address {:?}", text.trim()))
}

/// Parses `addr/len` into its first and last address. Host bits set are an error: a CIDR like
/// `10.0.0.1/8` is usually a typo, and guessing which range was meant could misroute clients.
pub fn parse_cidr(text: &str) -> Result<(IpAddr, IpAddr), String> {
    let text = text.trim();
    let (addr, len) = text.split_once('/').ok_or_else(|| format!("unparsable network {text:?} (expected address/prefix-length)"))?;
    let addr = parse_ip(addr)?;
    let len: u32 = len.parse().map_err(|_| format!("unparsable prefix length in network {text:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let net = u8::try_from(len)
        .ok()
        .and_then(|len| ipnet::IpNet::new(addr, len).ok())
        .ok_or_else(|| format!("prefix length {len} is over {max} in network {text:?}"))?;
    if net.trunc() != net {
        return Err(format!("network {text} has host bits set (the network is {})", net.trunc()));
    }
    Ok((net.network(), net.broadcast()))
}

/// Appends the JSON form of a metadata cell (see the module docs for the rule).
pub fn encode_cell(cell: &str, out: &mut Vec<u8>) {
    let first = cell.as_bytes().first().copied().unwrap_or(b' ');
    // Fast path for the common case (ASNs, ids): a plain integer of at most 18 digits without a
    // leading zero is already in canonical JSON form and fits 64 bits.
    let digits = cell.strip_prefix('-').unwrap_or(cell).as_bytes();
    if !digits.is_empty()
        && digits.len() <= 18
        && digits.iter().all(u8::is_ascii_digit)
        && (digits[0] != b'0' || (digits.len() == 1 && digits.len() == cell.len()))
    {
        out.extend_from_slice(cell.as_bytes());
        return;
    }
    if first.is_ascii_digit() || first == b'-' {
        if let Ok(n) = serde_json::from_str::<serde_json::Number>(cell) {
            let integer_syntax = !cell.contains(['.', 'e', 'E']);
            if !(integer_syntax && n.is_f64()) {
                serde_json::to_writer(&mut *out, &n).expect("writing to a Vec");
                return;
            }
        }
    } else if matches!(first, b'{' | b'[' | b'"') || matches!(cell, "true" | "false" | "null") {
        if let Ok(v) = serde_json::from_str::<Value>(cell) {
            serde_json::to_writer(&mut *out, &v).expect("writing to a Vec");
            return;
        }
    }
    serde_json::to_writer(&mut *out, cell).expect("writing to a Vec");
}

/// Whether a string value must be JSON-quoted in a CSV cell to read back as that string.
pub fn string_needs_quoting(s: &str) -> bool {
    let Some(&first) = s.as_bytes().first() else { return true };
    // Fast path: only these first characters can make `encode_cell` produce a non-string.
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'{' | b'[' | b'"' | b't' | b'f' | b'n')) {
        return false;
    }
    let mut probe = Vec::new();
    encode_cell(s, &mut probe);
    // Plain strings encode as themselves quoted; anything else was read as another JSON value.
    serde_json::from_slice::<Value>(&probe).ok() != Some(Value::String(s.to_string()))
}

/// Compact JSON object text of `members`, keys sorted, skipping the range keys.
pub fn meta_from_map(map: &Map<String, Value>, skip: &[&str], out: &mut Vec<u8>) {
    let mut members: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| !skip.contains(&k.as_str())).collect();
    members.sort_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, k).expect("writing to a Vec");
        out.push(b':');
        serde_json::to_writer(&mut *out, v).expect("writing to a Vec");
    }
    out.push(b'}');
}

/// Reader that advances a progress bar by the bytes read.
struct Counting<R> {
    inner: R,
    progress: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}

/// Opens a text input: counted for the progress bar, bounded (see `crate::input`).
fn open(path: &Path, progress: &ProgressBar) -> Result<crate::input::Guarded<Counting<File>>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    if let Ok(m) = file.metadata() {
        progress.set_length(m.len());
    }
    Ok(crate::input::Guarded::new(Counting { inner: file, progress: progress.clone() }, crate::input::limits().max_input))
}

/// Decides `auto`: by `--locations`, extension, then the first line.
pub fn detect(path: &Path, has_locations: bool) -> Result<Format> {
    if has_locations {
        return Ok(Format::Maxmind);
    }
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if matches!(ext.as_str(), "jsonl" | "ndjson" | "json") {
        return Ok(Format::Jsonl);
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut first = String::new();
    BufReader::new(file.take(1 << 16)).read_line(&mut first).with_context(|| format!("cannot read {}", path.display()))?;
    let line = first.trim_start_matches('\u{feff}').trim();
    if line.starts_with('{') {
        return Ok(Format::Jsonl);
    }
    let unquoted = line.trim_start_matches('"');
    if unquoted.as_bytes().first().is_some_and(u8::is_ascii_digit) && !line.contains(['.', ':', '/']) {
        return Ok(Format::Ip2location);
    }
    let cols: Vec<String> = line.split(',').map(|c| c.trim().trim_matches('"').to_ascii_lowercase()).collect();
    let has = |name: &str| cols.iter().any(|c| c == name);
    if has("network") && (has("geoname_id") || has("registered_country_geoname_id") || has("autonomous_system_number")) {
        return Ok(Format::Maxmind);
    }
    Ok(Format::Csv)
}

/// Reads `path` in `format` (not `Auto`) into staged ranges.
/// With `location_parts`, a location's members are stored once, as a part its records share.
pub fn read(path: &Path, format: Format, locations: Option<&Path>, location_parts: bool, progress: &ProgressBar) -> Result<Staged> {
    let name = path.display().to_string();
    match format {
        Format::Auto => read(path, detect(path, locations.is_some())?, locations, location_parts, progress),
        Format::Csv => read_csv(path, &name, None, false, progress),
        Format::Maxmind => {
            let locs = match locations {
                Some(l) => Some(read_locations(l)?),
                None => None,
            };
            read_csv(path, &name, Some(locs), location_parts, progress)
        }
        Format::Jsonl => read_jsonl(path, &name, progress),
        Format::Ip2location => read_ip2location(path, &name, progress),
    }
}

pub(super) fn csv_error(name: &str, e: csv::Error) -> anyhow::Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            anyhow!("{name}:{line}: row has {len} fields, the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => anyhow!("{name}:{line}: not UTF-8"),
        _ => anyhow!("{name}:{line}: {e}"),
    }
}

/// GeoLite2 locations: geoname_id → cells of the location columns.
struct Locations {
    name: String,
    /// Column names other than geoname_id and locale_code.
    columns: Vec<String>,
    rows: HashMap<u64, Box<[Box<str>]>>,
}

fn read_locations(path: &Path) -> Result<Locations> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open locations file {name}"))?;
    let file = crate::input::Guarded::new(file, crate::input::limits().max_input);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(BufReader::new(file));
    let headers = reader.headers().map_err(|e| csv_error(&name, e))?.clone();
    let id_col = headers
        .iter()
        .position(|h| h.trim() == "geoname_id")
        .ok_or_else(|| anyhow!("{name}:1: not a GeoLite2 locations file: no geoname_id column"))?;
    let keep: Vec<usize> = (0..headers.len()).filter(|&i| i != id_col && headers[i].trim() != "locale_code").collect();
    let columns = keep.iter().map(|&i| headers[i].trim().to_string()).collect();
    let mut rows = HashMap::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| csv_error(&name, e))? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let id: u64 =
            record[id_col].trim().parse().map_err(|_| anyhow!("{name}:{line}: geoname_id {:?} is not a number", &record[id_col]))?;
        rows.insert(id, keep.iter().map(|&i| Box::<str>::from(&record[i])).collect());
    }
    Ok(Locations { name, columns, rows })
}

/// Where a metadata member comes from.
#[derive(Clone, Copy)]
enum Source {
    Row(usize),
    Location(usize),
}

/// Generic CSV and GeoLite2 blocks (`maxmind = Some(locations)`).
fn read_csv(path: &Path, name: &str, maxmind: Option<Option<Locations>>, parts: bool, progress: &ProgressBar) -> Result<Staged> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).buffer_capacity(1 << 16).from_reader(open(path, progress)?);
    let headers = reader.headers().map_err(|e| csv_error(name, e))?.clone();
    let cols: Vec<String> = headers.iter().map(|h| h.trim().trim_start_matches('\u{feff}').to_string()).collect();
    if cols.iter().all(|c| c.is_empty()) {
        bail!("{name}:1: no header row (expected start,end or network, then metadata columns)");
    }
    let find = |n: &str| cols.iter().position(|c| c == n);
    let (start_col, end_col, net_col) = (find("start"), find("end"), find("network"));
    let bounds = match (start_col, end_col, net_col) {
        (Some(s), Some(e), None) => Bounds::StartEnd(s, e),
        (None, None, Some(n)) => Bounds::Network(n),
        _ => bail!("{name}:1: the header needs either start and end columns or a network column (found: {})", cols.join(",")),
    };
    if maxmind.is_some() && net_col.is_none() {
        bail!("{name}:1: not a GeoLite2 blocks file: no network column");
    }
    let mut seen = std::collections::HashSet::new();
    for c in &cols {
        if c.is_empty() {
            bail!("{name}:1: empty column name in the header");
        }
        if !seen.insert(c) {
            bail!("{name}:1: column {c:?} appears twice in the header");
        }
    }
    let range_cols = ["start", "end", "network"];
    let mut members: Vec<(String, Source)> =
        cols.iter().enumerate().filter(|(_, c)| !range_cols.contains(&c.as_str())).map(|(i, c)| (c.clone(), Source::Row(i))).collect();
    let locations = maxmind.flatten();
    let (geoname_col, registered_col) = (find("geoname_id"), find("registered_country_geoname_id"));
    if let Some(locs) = &locations {
        if geoname_col.is_none() && registered_col.is_none() {
            bail!("{name}:1: --locations needs a geoname_id or registered_country_geoname_id column to join on");
        }
        for (i, c) in locs.columns.iter().enumerate() {
            // A column of the blocks file wins over a location column of the same name.
            if !seen.contains(c) && !range_cols.contains(&c.as_str()) {
                members.push((c.clone(), Source::Location(i)));
            }
        }
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    // Pre-encoded `"key":` fragments: keys are escaped once, not per row.
    let keys: Vec<Vec<u8>> = members
        .iter()
        .map(|(k, _)| {
            let mut v = serde_json::to_vec(k).expect("string to JSON");
            v.push(b':');
            v
        })
        .collect();

    let mut staged = Staged::default();
    let mut meta = Vec::with_capacity(256);
    let (mut own, mut part) = (Vec::with_capacity(128), Vec::with_capacity(256));
    let split = parts && locations.is_some();
    // The metadata is a function of the row's other cells (the location row too: it is chosen
    // by them), so equal cells give the id at once: 458k distinct among GeoLite2-City's 3.4M
    // rows. Key: those cells, each followed by 0xff (not in UTF-8).
    let meta_cols: Vec<usize> = (0..cols.len()).filter(|i| !range_cols.contains(&cols[*i].as_str())).collect();
    // A column's place among the row's metadata cells (range columns have none).
    let mut cell_of = vec![usize::MAX; cols.len()];
    for (at, &col) in meta_cols.iter().enumerate() {
        cell_of[col] = at;
    }
    let (mut memo, mut memo_ids) = (Interner::default(), Vec::<u32>::new());
    let hasher = memo.hasher();
    let (mut memoize, mut memo_hits) = (true, 0u64);
    const MEMO_PROBE: usize = 65_536;
    super::rows::for_each_row(reader, name, bounds, &meta_cols, hasher, |row| {
        let (start, end, line) = (row.start, row.end, row.line);
        let at = |reason: String| anyhow!("{name}:{line}: {reason}");
        if memoize {
            let (memo_id, new) = memo.intern_hashed(row.key, row.hash)?;
            if !new {
                memo_hits += 1;
                staged.push_id(start, end, memo_ids[memo_id as usize], line).map_err(at)?;
                return Ok(());
            }
            // Rows that (nearly) never repeat: the memo only costs; stop keeping it.
            if memo.len() == MEMO_PROBE && memo_hits < MEMO_PROBE as u64 {
                (memoize, memo, memo_ids) = (false, Interner::default(), Vec::new());
            }
        }
        // A new row (rare with the memo): its cells by column.
        let cells: Vec<&str> = row.cells().collect();
        let record = |col: usize| cells[cell_of[col]];
        let location = match &locations {
            None => None,
            Some(locs) => {
                let id_cell = [geoname_col, registered_col].into_iter().flatten().map(|c| record(c).trim()).find(|c| !c.is_empty());
                match id_cell {
                    None => None,
                    Some(id) => {
                        let found = id.parse::<u64>().ok().and_then(|n| locs.rows.get(&n).map(|row| (n, row)));
                        Some(found.ok_or_else(|| at(format!("geoname_id {id} is not in the locations file {}", locs.name)))?)
                    }
                }
            }
        };
        // The whole object, and with locations also its block and location members apart: the
        // location part is stored once per location (GeoLite2-City: 120k under 458k objects).
        for buf in [&mut meta, &mut own, &mut part] {
            buf.clear();
            buf.push(b'{');
        }
        for ((_, source), key) in members.iter().zip(&keys) {
            let (cell, apart): (&str, &mut Vec<u8>) = match *source {
                Source::Row(i) => (record(i), &mut own),
                Source::Location(i) => (location.map_or("", |(_, row)| &row[i]), &mut part),
            };
            if cell.is_empty() {
                continue;
            }
            let at = meta.len();
            if meta.len() > 1 {
                meta.push(b',');
            }
            meta.extend_from_slice(key);
            encode_cell(cell, &mut meta);
            if split {
                if apart.len() > 1 {
                    apart.push(b',');
                }
                apart.extend_from_slice(&meta[at + usize::from(at > 1)..]);
            }
        }
        for buf in [&mut meta, &mut own, &mut part] {
            buf.push(b'}');
        }
        let id = match split {
            true => staged.metas.intern_with_part(&meta, &own, &part, location.map(|(id, _)| id))?,
            false => staged.metas.intern(&meta)?,
        };
        if memoize {
            memo_ids.push(id);
        }
        staged.push_id(start, end, id, line).map_err(at)?;
        Ok(())
    })?;
    Ok(staged)
}

fn read_jsonl(path: &Path, name: &str, progress: &ProgressBar) -> Result<Staged> {
    let mut reader = BufReader::with_capacity(1 << 16, open(path, progress)?);
    let mut staged = Staged::default();
    let mut text = String::new();
    let mut meta = Vec::with_capacity(256);
    let mut line = 0u64;
    loop {
        text.clear();
        line += 1;
        let n = reader_read_line(&mut reader, &mut text).with_context(|| format!("{name}:{line}: cannot read (not UTF-8?)"))?;
        if n == 0 {
            break;
        }
        let trimmed = text.trim();
        if trimmed.is_empty() {
            continue;
        }
        let at = |reason: String| anyhow!("{name}:{line}: {reason}");
        let value: Value = serde_json::from_str(trimmed).map_err(|e| at(format!("not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(at("metadata is not a JSON object (each line must be {\"start\":…,\"end\":…, …metadata})".into()));
        };
        let text_of = |k: &str| -> Result<Option<&str>, String> {
            match map.get(k) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("{k:?} must be a string, not {other}")),
            }
        };
        let (start, end) = match (text_of("start").map_err(at)?, text_of("end").map_err(at)?, text_of("network").map_err(at)?) {
            (Some(s), Some(e), None) => (parse_ip(s).map_err(at)?, parse_ip(e).map_err(at)?),
            (None, None, Some(n)) => parse_cidr(n).map_err(at)?,
            _ => return Err(at("needs either \"start\" and \"end\" or \"network\"".into())),
        };
        meta.clear();
        meta_from_map(&map, &["start", "end", "network"], &mut meta);
        staged.push(start, end, &meta, line).map_err(at)?;
    }
    Ok(staged)
}

fn reader_read_line<R: Read>(reader: &mut BufReader<R>, buf: &mut String) -> std::io::Result<usize> {
    reader.read_line(buf)
}

/// Metadata keys of the IP2Location LITE databases, by the number of fields after the two
/// addresses. Others get `field3`, `field4`, … (1-based column numbers).
fn ip2location_keys(n: usize) -> Vec<String> {
    let names: &[&str] = match n {
        2 => &["country_code", "country_name"],                                                      // DB1
        3 => &["cidr", "asn", "as"],                                                                 // ASN
        4 => &["country_code", "country_name", "region_name", "city_name"],                          // DB3
        6 => &["country_code", "country_name", "region_name", "city_name", "latitude", "longitude"], // DB5
        7 => &["country_code", "country_name", "region_name", "city_name", "latitude", "longitude", "zip_code"], // DB9
        8 => &["country_code", "country_name", "region_name", "city_name", "latitude", "longitude", "zip_code", "time_zone"], // DB11
        _ => &[],
    };
    if names.len() == n {
        names.iter().map(|s| s.to_string()).collect()
    } else {
        (3..3 + n).map(|i| format!("field{i}")).collect()
    }
}

/// An IP2Location integer: IPv4 as u32, IPv6 as u128 (family decided per row by `ip_to`).
fn read_ip2location(path: &Path, name: &str, progress: &ProgressBar) -> Result<Staged> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).buffer_capacity(1 << 16).from_reader(open(path, progress)?);
    let mut staged = Staged::default();
    let mut record = csv::StringRecord::new();
    let mut meta = Vec::with_capacity(256);
    let mut keys: Option<(usize, Vec<Vec<u8>>)> = None;
    let mut sorted: Vec<usize> = Vec::new();
    while reader.read_record(&mut record).map_err(|e| csv_error(name, e))? {
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let at = |reason: String| anyhow!("{name}:{line}: {reason}");
        if record.len() < 3 {
            return Err(at(format!("expected \"ip_from\",\"ip_to\", then data fields; found {} fields", record.len())));
        }
        let keys = keys.get_or_insert_with(|| {
            let names = ip2location_keys(record.len() - 2);
            sorted = (0..names.len()).collect();
            sorted.sort_by(|&a, &b| names[a].cmp(&names[b]));
            (record.len(), names.iter().map(|k| format!("\"{k}\":").into_bytes()).collect())
        });
        let number = |i: usize| -> Result<u128, anyhow::Error> {
            record[i].trim().parse::<u128>().map_err(|_| at(format!("unparsable address number {:?}", &record[i])))
        };
        let (from, to) = (number(0)?, number(1)?);
        let (start, end) = if to <= u32::MAX as u128 {
            (IpAddr::V4(Ipv4Addr::from(from as u32)), IpAddr::V4(Ipv4Addr::from(to as u32)))
        } else {
            (IpAddr::V6(Ipv6Addr::from(from)), IpAddr::V6(Ipv6Addr::from(to)))
        };
        meta.clear();
        meta.push(b'{');
        for &k in &sorted {
            let cell = &record[k + 2];
            // IP2Location writes `-` for "no data".
            if cell.is_empty() || cell == "-" {
                continue;
            }
            if meta.len() > 1 {
                meta.push(b',');
            }
            meta.extend_from_slice(&keys.1[k]);
            encode_cell(cell, &mut meta);
        }
        meta.push(b'}');
        if meta.len() == 2 {
            staged.skipped += 1;
            continue;
        }
        staged.push(start, end, &meta, line).map_err(at)?;
    }
    reader.get_ref().check_quotes_closed().with_context(|| name.to_string())?;
    Ok(staged)
}

#[cfg(test)]
#[path = "input_tests.rs"]
mod tests;
