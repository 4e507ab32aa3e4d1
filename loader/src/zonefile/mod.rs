//! RFC 1035 master-file parsing and presentation.
//!
//! Our own parser rather than hickory's or `domain`'s, for exact RFC 1035/3597 semantics (`\DDD`,
//! `@` in RDATA, `TYPEnnn`, TTL units) with line numbers, at import speed.
//!
//! * [`lexer`]: bytes → entries of tokens (parentheses, quotes, comments).
//! * [`parser`]: entries → records (owner/TTL/class fields, `$ORIGIN`, `$TTL`, `$INCLUDE`).
//! * [`rdata`], [`svcb`]: RDATA text → wire; [`present`]: wire → text, its exact inverse.
//! * [`validate`]: zone-level checks (SOA, apex NS, CNAME exclusivity, out-of-zone data).

mod custom;
mod encoding;
mod fields;
mod generate;
mod legacy;
mod lexer;
mod names;
mod parser;
mod present;
mod rdata;
mod svcb;
mod tidy;
mod time;
pub mod types;
mod validate;

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use present::{rdata_to_text, record_line};
pub use tidy::tidy_zone;
pub use types::type_name;
pub use validate::validate_zone;

/// One resource record as read from a master file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute uncompressed wire-format name, case as written.
    pub owner: Vec<u8>,
    pub ttl: u32,
    pub rtype: u16,
    /// Wire format; embedded names uncompressed, case as written.
    pub rdata: Vec<u8>,
    /// Line of the record's first token.
    pub line: usize,
    /// The file the record came from (an `$INCLUDE`d one, possibly).
    pub file: Arc<Path>,
}

/// A parsed master file.
#[derive(Debug, Clone)]
pub struct ZoneFile {
    /// The zone's origin, wire format.
    pub origin: Vec<u8>,
    pub records: Vec<Record>,
    pub path: PathBuf,
    /// `FILE:LINE: what` for what was read but is not quite right (a TTL taken from the SOA,
    /// out-of-zone data dropped by [`tidy_zone`]).
    pub warnings: Vec<String>,
}

/// `FILE:LINE: message`; `FILE: message` for what concerns no line (a missing file, no SOA).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct ParseError {
    pub file: PathBuf,
    /// 1-based; 0 for the file as a whole.
    pub line: usize,
    pub message: String,
}

/// The origin a file name implies: `example.com.zone` → `example.com.`, `10.in-addr.arpa` →
/// `10.in-addr.arpa.`.
pub fn origin_from_file_name(path: &Path) -> Option<Vec<u8>> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".zone").unwrap_or(name);
    if name.is_empty() {
        return None;
    }
    let text = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
    parse_name(&text, &[0]).ok()
}

/// Reads and parses a master file.
///
/// origin: explicit (CLI `--origin`) wins; else the file's `$ORIGIN` (first one before any
/// record); else the file name with a trailing `.zone` removed.
pub fn parse_file(path: &Path, origin: Option<&[u8]>) -> Result<ZoneFile, ParseError> {
    parse_file_named(path, origin, None)
}

/// [`parse_file`] where `name_origin` (if given) is the origin the file name implies, in place
/// of [`origin_from_file_name`]: `import-dir --pattern 'db.*'` makes `db.example.com` zone
/// `example.com.`.
pub fn parse_file_named(path: &Path, origin: Option<&[u8]>, name_origin: Option<&[u8]>) -> Result<ZoneFile, ParseError> {
    let limits = crate::input::limits();
    let mut budget = limits.max_input;
    let text =
        crate::input::read_text(path, &mut budget).map_err(|e| ParseError { file: path.to_path_buf(), line: 0, message: e.to_string() })?;
    let from_name = match name_origin {
        Some(o) => Some(o.to_vec()),
        None => origin_from_file_name(path),
    };
    let initial = origin.map(<[u8]>::to_vec).or(from_name).unwrap_or_default();
    parse_bytes(&text, path, initial, origin.is_some(), budget, limits.include_root)
}

/// Parses master-file text whose zone origin is `origin` (wire format). `path` is used for
/// messages and as the base of relative `$INCLUDE`s.
pub fn parse_str(text: &str, path: &Path, origin: &[u8]) -> Result<ZoneFile, ParseError> {
    let limits = crate::input::limits();
    parse_bytes(text.as_bytes(), path, origin.to_vec(), true, limits.max_input, limits.include_root)
}

/// `budget`: bytes its `$INCLUDE`s may still read; `include_root`: where they may read from
/// (None: the directory tree of `path`).
fn parse_bytes(
    text: &[u8],
    path: &Path,
    initial: Vec<u8>,
    explicit: bool,
    budget: u64,
    include_root: Option<std::path::PathBuf>,
) -> Result<ZoneFile, ParseError> {
    let file: Arc<Path> = Arc::from(path);
    let root = include_root.unwrap_or_else(|| match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    });
    let mut ctx = parser::Ctx::new(explicit, budget, root);
    parser::parse_text(&mut ctx, text, &file, initial.clone(), 0)?;
    let origin = match ctx.directive_origin.take() {
        Some(o) => o,
        None if !initial.is_empty() => initial,
        None => {
            return Err(ParseError {
                file: path.to_path_buf(),
                line: 1,
                message: "no origin: give one, start the file with $ORIGIN, or name the file after the zone".into(),
            })
        }
    };
    Ok(ZoneFile { origin, records: ctx.records, path: path.to_path_buf(), warnings: ctx.warnings })
}

/// Presentation name → wire: `@`, names relative to `origin`, `\X` and `\DDD` escapes.
pub fn parse_name(text: &str, origin: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() + 2);
    names::name_to_wire(text.as_bytes(), origin, &mut out)?;
    Ok(out)
}

/// Type code of a mnemonic (any case) or `TYPEnnn`.
pub fn parse_type(text: &str) -> Option<u16> {
    types::type_from_bytes(text.as_bytes())
}

/// `3600`, `1h30m`, `1w2d`; units s m h d w in any case; at most 2^31-1.
pub fn parse_ttl(text: &str) -> Result<u32, String> {
    types::parse_duration(text.as_bytes(), types::MAX_TTL).map(|v| v as u32)
}

/// RDATA of one record from its presentation text (e.g. the words of `record add` joined by
/// spaces). Parentheses, quotes, comments and `\#` work as in a file.
/// Checks that wire `rdata` (names uncompressed) is valid RDATA of `rtype`, as it arrives in
/// a DNS UPDATE or a zone transfer; any bytes for types without a format of their own.
pub fn check_rdata(rtype: u16, rdata: &[u8]) -> Result<(), String> {
    present::check(rtype, rdata).map_err(|m| m.message_as(rtype, rdata.len(), "RDATA"))
}

pub fn parse_rdata(rtype: u16, rdata_text: &str, origin: &[u8]) -> Result<Vec<u8>, String> {
    let src = rdata_text.as_bytes();
    let mut lexer = lexer::Lexer::new(src);
    let mut toks = Vec::new();
    let mut all = Vec::new();
    // Newlines end entries in a file; here they are just white space.
    while lexer.next_entry(&mut toks).map_err(|(_, m)| m)?.is_some() {
        all.extend_from_slice(&toks);
    }
    let mut out = Vec::new();
    let mut cursor = rdata::Cursor::new(src, &all, origin, 1);
    rdata::encode(rtype, &mut cursor, &mut out).map_err(|(_, m)| m)?;
    Ok(out)
}
