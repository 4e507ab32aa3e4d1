//! Bounds on what the loader reads: zone files (and what they `$INCLUDE`), changesets and range
//! files. A path to `/dev/zero`, a multi-gigabyte mistake or an include fan-out must end in a
//! clear error, not in the kernel killing the process; and an error never echoes bytes that
//! are not text.
//!
//! [`Guarded`] wraps any reader: it counts bytes against a budget, refuses a NUL byte (no text
//! format the loader reads has one: zone files escape it as `\000`, JSON and CSV cannot hold
//! it) and lines longer than [`MAX_LINE`], each with the line number.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The longest line accepted. A zone-file line with the largest RDATA (64 KiB as hex, or base64
/// in parentheses across lines) fits with room to spare.
pub const MAX_LINE: usize = 1 << 20;
/// Default bound on one input (a zone with its includes, a changeset, a range file).
pub const DEFAULT_MAX_INPUT: u64 = 4 << 30;
/// Files one zone may `$INCLUDE` in all, at any depth (the depth alone bounds cycles, not the
/// fan-out of a file including the same file many times at every level).
pub const MAX_INCLUDES: usize = 1024;

/// Limits set once from the command line (`--max-input`, `--include-root`).
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_input: u64,
    /// Where `$INCLUDE` may read from; None: the directory tree of the zone file being read.
    pub include_root: Option<PathBuf>,
}

static LIMITS: OnceLock<Limits> = OnceLock::new();

/// Sets the limits for this process (the first call wins; tests and library users that never
/// call it get the defaults).
pub fn set_limits(limits: Limits) {
    let _ = LIMITS.set(limits);
}

pub fn limits() -> Limits {
    LIMITS.get().cloned().unwrap_or(Limits { max_input: DEFAULT_MAX_INPUT, include_root: None })
}

/// A reader that fails on a budget overrun, a NUL byte or an over-long line.
pub struct Guarded<R> {
    inner: R,
    /// Bytes still allowed.
    budget: u64,
    limit: u64,
    line: usize,
    line_len: usize,
    /// `"` bytes seen: odd at the end of a CSV file means it was cut inside a quoted field
    /// (the csv crate takes the end of input as the end of the field).
    quotes: u64,
}

impl<R: Read> Guarded<R> {
    pub fn new(inner: R, budget: u64) -> Self {
        Guarded { inner, budget, limit: budget, line: 1, line_len: 0, quotes: 0 }
    }

    /// Fails if the input read so far ends inside a quoted CSV field.
    pub fn check_quotes_closed(&self) -> io::Result<()> {
        if self.quotes % 2 == 1 {
            return Err(invalid(format!("line {}: the input ends inside a quoted field (cut short?)", self.line)));
        }
        Ok(())
    }

    /// Bytes of the budget left.
    pub fn remaining(&self) -> u64 {
        self.budget
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One byte past the budget tells a file of exactly the budget from a larger one.
        let want = buf.len().min(self.budget.saturating_add(1).min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.budget {
            return Err(invalid(format!("more than {} bytes: raise --max-input if this is really meant", self.limit)));
        }
        self.budget -= n as u64;
        for &byte in &buf[..n] {
            match byte {
                0 => return Err(invalid(format!("line {}: a NUL byte: this is not text (binary data?)", self.line))),
                b'\n' => {
                    self.line += 1;
                    self.line_len = 0;
                }
                b'"' => {
                    self.quotes += 1;
                    self.line_len += 1;
                }
                _ => {
                    self.line_len += 1;
                    if self.line_len > MAX_LINE {
                        return Err(invalid(format!(
                            "line {} is longer than {MAX_LINE} bytes: this is not a text file of records",
                            self.line
                        )));
                    }
                }
            }
        }
        Ok(n)
    }
}

/// Reads a whole text file within `budget` bytes (which it decreases).
pub fn read_text(path: &Path, budget: &mut u64) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > *budget {
            return Err(invalid(format!(
                "{} bytes, more than the {} allowed: raise --max-input if this is really meant",
                meta.len(),
                *budget
            )));
        }
        if meta.is_dir() {
            return Err(invalid("a directory, not a file".into()));
        }
    }
    let mut guarded = Guarded::new(file, *budget);
    let mut out = Vec::new();
    guarded.read_to_end(&mut out)?;
    *budget = guarded.remaining();
    Ok(out)
}

/// `path` resolved, if it lies inside `root` (both canonical); the error says where it points.
pub fn inside_root(path: &Path, root: &Path) -> Result<PathBuf, String> {
    let canonical = path.canonicalize().map_err(|e| e.to_string())?;
    let root = root.canonicalize().map_err(|e| format!("include root {}: {e}", root.display()))?;
    if canonical.starts_with(&root) {
        Ok(canonical)
    } else {
        Err(format!("it is outside the include root {} (set --include-root to allow it)", root.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], budget: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Guarded::new(bytes, budget).read_to_end(&mut out).map(|_| out)
    }

    #[test]
    fn budget_nul_and_line_length() {
        assert_eq!(read_all(b"a\nb\n", 4).unwrap(), b"a\nb\n");
        assert!(read_all(b"a\nb\nc", 4).unwrap_err().to_string().contains("more than 4 bytes"));
        let nul = read_all(b"a\nb\0", 100).unwrap_err().to_string();
        assert!(nul.contains("line 2: a NUL byte"), "{nul}");
        let long = vec![b'x'; MAX_LINE + 1];
        assert!(read_all(&long, u64::MAX).unwrap_err().to_string().contains("line 1 is longer"));
        let mut ok = vec![b'x'; MAX_LINE];
        ok.push(b'\n');
        ok.extend_from_slice(b"short\n");
        assert!(read_all(&ok, u64::MAX).is_ok());
    }
}
