//! Reading zone files for `zone import` and `zone check`: the master file, checked and built
//! into a tree, with its geo side file. Errors carry their place as an [`At`] (or the parser's
//! [`crate::zonefile::ParseError`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use lmdb_schema::name;
use lmdb_schema::zone::GeoPolicy;

use super::apply::{self, Change};
use crate::zonefile::{self, ZoneFile};
use crate::zones::{geo, Rr, ZoneTree};

/// A zone read from a file, with what its geo side file added.
pub struct ImportedZone {
    pub tree: ZoneTree,
    /// The side file's policy (None: the stored policy, if any, is kept).
    pub policy: Option<GeoPolicy>,
    /// The side file read, if there was one.
    pub side_file: Option<PathBuf>,
    /// `FILE:LINE: what` for what the zone file held but the zone does not take (see
    /// [`zonefile::tidy_zone`]).
    pub warnings: Vec<String>,
}

/// Where a problem of [`read_zone`] is: the context of its errors. Shown as `FILE:LINE` (or
/// `FILE`, `FILE (with SIDE)` for the zone as a whole), as `zone import` prints it; a type
/// rather than a string so `zone check` can report file and line as fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct At {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// The geo side file read with the zone, for problems of the zone as a whole.
    pub with: Option<PathBuf>,
}

impl At {
    fn line(file: &Path, line: usize) -> At {
        At { file: file.to_path_buf(), line: Some(line), with: None }
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(with) = &self.with {
            write!(f, " (with {})", with.display())?;
        }
        Ok(())
    }
}

/// Reads, checks and builds one zone file and its geo side file if present. Errors name the
/// file and line ([`At`], or a [`zonefile::ParseError`] from the parser).
///
/// `strict`: records outside the zone are an error; else they are dropped with a warning.
pub fn read_zone(path: &Path, origin: Option<&[u8]>, strict: bool) -> anyhow::Result<ImportedZone> {
    read_zone_named(path, origin, None, strict)
}

/// [`read_zone`] with the origin the file name implies given (see
/// [`zonefile::parse_file_named`]).
pub fn read_zone_named(path: &Path, origin: Option<&[u8]>, name_origin: Option<&[u8]>, strict: bool) -> anyhow::Result<ImportedZone> {
    let mut file: ZoneFile = zonefile::parse_file_named(path, origin, name_origin)?;
    zonefile::tidy_zone(&mut file, strict)?;
    zonefile::validate_zone(&file)?;
    let whole = |with: Option<&PathBuf>| At { file: path.to_path_buf(), line: None, with: with.cloned() };
    let mut tree = ZoneTree::new(&file.origin).with_context(|| whole(None))?;
    for record in &file.records {
        let rr =
            Rr { owner: record.owner.clone(), ttl: record.ttl, rtype: record.rtype, rdata: record.rdata.clone(), condition: Vec::new() };
        tree.insert(&rr).with_context(|| At::line(&record.file, record.line))?;
    }
    let side = geo::side_file_for(path);
    let (policy, side_file) = if side.is_file() { (read_side_file(&side, &mut tree)?, Some(side)) } else { (None, None) };
    tree.finish().with_context(|| whole(side_file.as_ref()))?;
    Ok(ImportedZone { tree, policy, side_file, warnings: file.warnings })
}

/// A side-file problem at `at`, shown as `FILE:LINE: reason`.
fn side_error(at: At, reason: String) -> anyhow::Error {
    anyhow::Error::msg(reason).context(at)
}

/// Adds a side file's variants to `tree` and returns its policy. Only `add` ops with a "when"
/// and at most one `policy` op for this zone are allowed; errors name FILE:LINE.
fn read_side_file(path: &Path, tree: &mut ZoneTree) -> anyhow::Result<Option<GeoPolicy>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut policy = None;
    for (index, line) in text.lines().enumerate() {
        let at = || At::line(path, index + 1);
        if line.trim().is_empty() {
            continue;
        }
        let change: Change =
            serde_json::from_str(line).map_err(|e| anyhow::Error::new(e).context("not a valid geo side-file line").context(at()))?;
        match change {
            Change::Add { name, ttl, rtype, rdata, when } => {
                if when.is_none() {
                    let reason = "a side file holds variants only; this add has no \"when\" (default data goes in the zone file)";
                    return Err(side_error(at(), reason.into()));
                }
                let rr = apply::add_record(&name, ttl, &rtype, &rdata, when.as_ref()).with_context(at)?;
                tree.insert(&rr).with_context(at)?;
            }
            Change::Policy { zone, table, keys, whoami } => {
                let (apex, p) = apply::policy_op(&zone, table, keys, whoami).with_context(at)?;
                if name::key_from_wire(&apex).with_context(at)? != tree.apex_key {
                    return Err(side_error(at(), format!("policy for zone {zone}, but this side file belongs to {}", tree.apex_text())));
                }
                if policy.replace(p).is_some() {
                    return Err(side_error(at(), "a second policy line".into()));
                }
            }
            other => {
                let op = match other {
                    Change::Delete { .. } => "delete",
                    Change::SecondaryAdd { .. } => "secondary-add",
                    Change::SecondaryRemove { .. } => "secondary-remove",
                    _ => "delete-zone",
                };
                return Err(side_error(
                    at(),
                    format!("op {op:?} is not allowed in a geo side file (only \"add\" with \"when\", and \"policy\")"),
                ));
            }
        }
    }
    Ok(policy)
}

/// An `import-dir --pattern`: file names with one `*` standing for the zone name, as BIND
/// directories name them (`db.*`, `*.db`); the default `*.zone` is lmdns's own naming.
#[derive(Debug, Clone)]
pub struct FilePattern {
    prefix: String,
    suffix: String,
}

impl FilePattern {
    pub fn parse(text: &str) -> anyhow::Result<FilePattern> {
        let Some((prefix, suffix)) = text.split_once('*') else {
            anyhow::bail!("--pattern {text:?} has no '*' (where the zone name is in the file name, e.g. 'db.*' or '*.db')");
        };
        if suffix.contains('*') || text.contains('/') {
            anyhow::bail!("--pattern {text:?}: want one '*' and no '/' (e.g. 'db.*' or '*.db')");
        }
        Ok(FilePattern { prefix: prefix.to_string(), suffix: suffix.to_string() })
    }

    /// The zone name part of a file name that matches, else None. BIND journals (`.jnl`) and
    /// hidden files never match.
    pub fn zone_part<'a>(&self, file_name: &'a str) -> Option<&'a str> {
        if file_name.starts_with('.') || file_name.ends_with(".jnl") {
            return None;
        }
        let middle = file_name.strip_prefix(&self.prefix)?.strip_suffix(&self.suffix)?;
        (!middle.is_empty()).then_some(middle)
    }

    /// The origin a matching file's name implies (wire format), if it is a valid name.
    pub fn origin_of(&self, path: &Path) -> Option<Vec<u8>> {
        let part = self.zone_part(path.file_name()?.to_str()?)?;
        let text = if part.ends_with('.') { part.to_string() } else { format!("{part}.") };
        zonefile::parse_name(&text, &[0]).ok()
    }

    /// Matching regular files of `dir`, sorted.
    pub fn files_in(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading directory {}", dir.display()))? {
            let path = entry.with_context(|| format!("reading directory {}", dir.display()))?.path();
            let matches = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| self.zone_part(n).is_some());
            if matches && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

impl std::fmt::Display for FilePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}*{}", self.prefix, self.suffix)
    }
}
