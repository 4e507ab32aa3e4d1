//! Splits master-file text into entries (one record or directive, possibly spanning lines inside
//! parentheses) made of tokens.
//!
//! Tokens are spans into the source so that the hot path allocates nothing: escapes stay in the
//! raw text and are decoded by whoever knows whether the token is a name, a string or a number.

/// One token: a span of the source, without the surrounding quotes if it was quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tok {
    pub start: u32,
    pub end: u32,
    pub line: u32,
    pub quoted: bool,
}

impl Tok {
    #[inline]
    pub fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        &src[self.start as usize..self.end as usize]
    }
}

/// Where an entry starts and whether its owner field was left blank.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    pub line: usize,
    /// The entry's first line started with white space: the owner is the previous one.
    pub blank_owner: bool,
}

/// A lexing error: the line it was detected at and the reason.
pub(crate) type LexError = (usize, String);

pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a [u8]) -> Self {
        Lexer { src, pos: 0, line: 1 }
    }

    /// Reads the next non-empty entry into `toks` (cleared first). `None` at end of input.
    pub fn next_entry(&mut self, toks: &mut Vec<Tok>) -> Result<Option<Entry>, LexError> {
        if self.src.len() > u32::MAX as usize {
            return Err((1, "file larger than 4 GiB".into()));
        }
        let src = self.src;
        toks.clear();
        let mut entry = Entry { line: self.line, blank_owner: false };
        let mut at_line_start = true;
        let mut paren_line = 0usize;
        let mut in_parens = false;
        while self.pos < src.len() {
            let b = src[self.pos];
            if at_line_start {
                at_line_start = false;
                if toks.is_empty() && !in_parens {
                    entry.blank_owner = b == b' ' || b == b'\t';
                }
            }
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    self.line += 1;
                    at_line_start = true;
                    if !in_parens && !toks.is_empty() {
                        return Ok(Some(entry));
                    }
                }
                b';' => {
                    // Comment to end of line; the newline itself still ends the entry.
                    match memchr::memchr(b'\n', &src[self.pos..]) {
                        Some(off) => self.pos += off,
                        None => self.pos = src.len(),
                    }
                }
                b'(' => {
                    if in_parens {
                        return Err((self.line, "nested '('".into()));
                    }
                    in_parens = true;
                    paren_line = self.line;
                    self.pos += 1;
                }
                b')' => {
                    if !in_parens {
                        return Err((self.line, "unbalanced ')'".into()));
                    }
                    in_parens = false;
                    self.pos += 1;
                }
                b'"' => {
                    let open_line = self.line;
                    let start = self.pos + 1;
                    let mut i = start;
                    loop {
                        match src.get(i) {
                            None => return Err((open_line, "unterminated quoted string".into())),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                if src.get(i + 1) == Some(&b'\n') {
                                    self.line += 1;
                                }
                                i += 2;
                            }
                            Some(b'\n') => {
                                self.line += 1;
                                i += 1;
                            }
                            Some(_) => i += 1,
                        }
                    }
                    if toks.is_empty() {
                        entry.line = open_line;
                    }
                    toks.push(Tok { start: start as u32, end: i as u32, line: open_line as u32, quoted: true });
                    self.pos = i + 1;
                }
                _ => {
                    let start = self.pos;
                    let line = self.line;
                    let mut i = start;
                    while let Some(&c) = src.get(i) {
                        match c {
                            b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                if src.get(i + 1) == Some(&b'\n') {
                                    self.line += 1;
                                }
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                    let end = i.min(src.len());
                    if toks.is_empty() {
                        entry.line = line;
                    }
                    toks.push(Tok { start: start as u32, end: end as u32, line: line as u32, quoted: false });
                    self.pos = end;
                }
            }
        }
        if in_parens {
            return Err((paren_line, "unbalanced '(': not closed before end of file".into()));
        }
        Ok(if toks.is_empty() { None } else { Some(entry) })
    }
}

/// Decodes RFC 1035 §5.1 escapes (`\X`, `\DDD`) of one token, appending the bytes to `out`.
pub(crate) fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let (byte, used) = escape_at(raw, i)?;
        out.push(byte);
        i += used;
    }
    Ok(())
}

/// Decodes the escape starting with the backslash at `raw[i]`: the byte and how many input bytes
/// it took.
#[inline]
pub(crate) fn escape_at(raw: &[u8], i: usize) -> Result<(u8, usize), String> {
    match raw.get(i + 1) {
        None => Err("dangling '\\' at end of token".into()),
        Some(d) if d.is_ascii_digit() => {
            let digits = raw.get(i + 1..i + 4).filter(|d| d.iter().all(u8::is_ascii_digit));
            let Some(d) = digits else {
                return Err("'\\DDD' escape needs exactly three digits".into());
            };
            let v = (d[0] - b'0') as u32 * 100 + (d[1] - b'0') as u32 * 10 + (d[2] - b'0') as u32;
            if v > 255 {
                return Err(format!("escape '\\{}' is over 255", String::from_utf8_lossy(d)));
            }
            Ok((v as u8, 4))
        }
        Some(&c) => Ok((c, 2)),
    }
}
