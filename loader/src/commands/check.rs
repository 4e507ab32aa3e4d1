//! `lmdns-loader zone check FILE...`: every check `zone import` makes, with no database — the
//! `kzonecheck` / `named-checkzone` of lmdns, for editors, pre-commit hooks and CI.
//!
//! Each file goes through the import's own code: [`read_zone`] (syntax, RDATA, zone rules, the
//! geo side file) and [`zones::standalone::check_standalone`] (whoami names, NSEC3 iterations,
//! unsigned variants of signed zones), and the files together through the import's rule that no
//! two hold the same zone. Like the import, reading a file stops at its first problem, so a bad
//! file reports one.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use rayon::prelude::*;
use serde::Serialize;

use super::zone_files::{read_zone, At, ImportedZone};
use crate::zonefile::{self, ParseError};
use crate::zones::{self, geo};

#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// Zone files (RFC 1035 master format), each with its geo side file if one is beside it
    /// (`X.geo.jsonl` for `X.zone`), as `zone import` reads them.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Origin of the zone (only with a single FILE); else the file's $ORIGIN, else the file
    /// name with a trailing `.zone` removed, as for `zone import`.
    #[arg(long, value_name = "NAME")]
    pub origin: Option<String>,
    /// Count records outside the zone as errors, as `zone import --strict` does; by default
    /// they are dropped with a warning.
    #[arg(long)]
    pub strict: bool,
    /// Print a JSON array on stdout instead of text, one object per FILE in the order given:
    /// {"file", "origin" (the zone's apex, null if the file could not be read that far),
    /// "ok", "records" (null unless the zone was built), "errors": [{"file" (the zone file, an
    /// $INCLUDEd file or the side file), "line" (null for the zone as a whole), "message" (the
    /// reason, without file and line)}], "warnings": [text]}. The exit code is the same.
    #[arg(long)]
    pub json: bool,
}

/// One problem: where, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    /// The line `zone import` prints for it (after `error: `).
    #[serde(skip)]
    pub text: String,
}

/// The verdict on one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub origin: Option<String>,
    pub ok: bool,
    pub records: Option<u64>,
    pub errors: Vec<Problem>,
    pub warnings: Vec<String>,
}

pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    if args.origin.is_some() && args.files.len() > 1 {
        bail!("--origin applies to one zone file; {} were given", args.files.len());
    }
    let origin = match &args.origin {
        Some(o) => Some(zonefile::parse_name(o, &[0]).map_err(|e| anyhow::anyhow!("--origin {o}: {e}"))?),
        None => None,
    };
    let reports = check_files(&args.files, origin.as_deref(), args.strict);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &reports)?;
        writeln!(out)?;
    } else {
        let mut err = std::io::stderr().lock();
        for report in &reports {
            for warning in &report.warnings {
                writeln!(err, "warning: {}", one_line(warning))?;
            }
            for problem in &report.errors {
                writeln!(err, "error: {}", one_line(&problem.text))?;
            }
            if report.ok {
                let origin = report.origin.as_deref().unwrap_or("?");
                writeln!(out, "{}: zone {origin}, {} records: ok", report.file.display(), report.records.unwrap_or(0))?;
            }
        }
        let bad = reports.iter().filter(|r| !r.ok).count();
        if reports.len() > 1 || bad > 0 {
            let files = if reports.len() == 1 { "file" } else { "files" };
            writeln!(out, "checked {} {files}: {} ok, {bad} with errors", reports.len(), reports.len() - bad)?;
        }
    }
    Ok(if reports.iter().all(|r| r.ok) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Checks every file (in parallel, as the import reads them), in the order given.
pub fn check_files(files: &[PathBuf], origin: Option<&[u8]>, strict: bool) -> Vec<Report> {
    let mut reports: Vec<(Report, Option<Vec<u8>>)> = files.par_iter().map(|path| check_file(path, origin, strict)).collect();
    // The import refuses two files of one zone in one command; so does the check, on the
    // second file, with the import's message.
    let mut seen = HashMap::<Vec<u8>, PathBuf>::new();
    for (report, apex_key) in &mut reports {
        let Some(key) = apex_key else { continue };
        if let Some(first) = seen.get(key) {
            let message =
                format!("{} and {} both hold zone {}", first.display(), report.file.display(), report.origin.as_deref().unwrap_or(""));
            report.errors.push(Problem { file: report.file.clone(), line: None, text: message.clone(), message });
            report.ok = false;
        } else {
            seen.insert(key.clone(), report.file.clone());
        }
    }
    reports.into_iter().map(|(report, _)| report).collect()
}

/// One file's report, and its zone's apex key when the zone could be built.
fn check_file(path: &Path, origin: Option<&[u8]>, strict: bool) -> (Report, Option<Vec<u8>>) {
    let given_origin = origin.map(lmdb_schema::name::wire_to_text);
    let mut report =
        Report { file: path.to_path_buf(), origin: given_origin, ok: false, records: None, errors: Vec::new(), warnings: Vec::new() };
    let ImportedZone { mut tree, policy, warnings, .. } = match read_zone(path, origin, strict) {
        Ok(zone) => zone,
        Err(error) => {
            report.errors.push(locate(&error, path));
            return (report, None);
        }
    };
    let apex = tree.apex_text();
    report.origin = Some(apex.clone());
    if let Err(error) = zones::standalone::check_standalone(&mut tree, policy.as_ref()) {
        // The import names the file for these (see `zone import`): so does the check.
        let error = anyhow::Error::new(error).context(path.display().to_string());
        report.errors.push(locate(&error, path));
        return (report, Some(tree.apex_key));
    }
    report.warnings = warnings;
    report.warnings.extend(geo::unmatchable(&apex, &geo::variants(&tree), policy.as_ref()));
    report.records = Some(tree.record_count());
    report.ok = true;
    (report, Some(tree.apex_key))
}

/// Splits an import error into file, line and reason: the parser's [`ParseError`] and the
/// reader's [`At`] contexts carry them; anything else is a problem of `checked` as a whole.
fn locate(error: &anyhow::Error, checked: &Path) -> Problem {
    let text = format!("{error:#}");
    if let Some(p) = error.downcast_ref::<ParseError>() {
        // Line 0: the file as a whole (unreadable, no records).
        return Problem { file: p.file.clone(), line: (p.line > 0).then_some(p.line), message: p.message.clone(), text };
    }
    if let Some(at) = error.downcast_ref::<At>() {
        let shown = at.to_string();
        let reason: Vec<String> = error.chain().map(ToString::to_string).skip_while(|c| *c != shown).skip(1).collect();
        return Problem { file: at.file.clone(), line: at.line, message: reason.join(": "), text };
    }
    let prefix = format!("{}: ", checked.display());
    let message = text.strip_prefix(&prefix).unwrap_or(&text).to_string();
    Problem { file: checked.to_path_buf(), line: None, message, text }
}

/// One line per problem, whatever a message holds.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
