//! Entries → records: owner, TTL and class fields, directives, `$INCLUDE` nesting.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::lexer::{Lexer, Tok};
use super::names::{lossy, name_to_wire};
use super::rdata::{encode, Cursor};
use super::types::{classify_class, parse_duration, type_from_bytes, ClassTok, MAX_TTL};
use super::{ParseError, Record};

/// Deepest `$INCLUDE` nesting; stops include cycles long before the stack is at risk.
pub(crate) const MAX_INCLUDE_DEPTH: usize = 16;

/// State that carries across the lines of a file and into the files it includes.
pub(crate) struct Ctx {
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
    /// `$TTL`, once seen.
    default_ttl: Option<u32>,
    /// TTL of the previous record, the RFC 1035 default when there is no `$TTL`.
    last_ttl: Option<u32>,
    last_owner: Option<Vec<u8>>,
    /// The origin was given by the caller, so `$ORIGIN` does not change the zone's origin.
    explicit_origin: bool,
    /// The zone origin taken from a leading `$ORIGIN`.
    pub directive_origin: Option<Vec<u8>>,
    toks: Vec<Tok>,
    /// Bytes `$INCLUDE`s may still read (see `crate::input`).
    budget: u64,
    /// `$INCLUDE`d files read so far, at any depth.
    includes: usize,
    /// Where `$INCLUDE` may read from.
    include_root: PathBuf,
}

impl Ctx {
    pub fn new(explicit_origin: bool, budget: u64, include_root: PathBuf) -> Self {
        Ctx {
            budget,
            includes: 0,
            include_root,
            records: Vec::new(),
            warnings: Vec::new(),
            default_ttl: None,
            last_ttl: None,
            last_owner: None,
            explicit_origin,
            directive_origin: None,
            toks: Vec::with_capacity(16),
        }
    }
}

fn err(file: &Path, line: usize, message: impl Into<String>) -> ParseError {
    ParseError { file: file.to_path_buf(), line, message: message.into() }
}

/// Parses one file's text, appending its records (and those of the files it includes).
/// `origin` is the origin in force at the top of the text; empty if unknown.
pub(crate) fn parse_text(ctx: &mut Ctx, src: &[u8], file: &Arc<Path>, mut origin: Vec<u8>, depth: usize) -> Result<(), ParseError> {
    let mut lexer = Lexer::new(src);
    let mut toks = std::mem::take(&mut ctx.toks);
    let result = (|| {
        while let Some(entry) = lexer.next_entry(&mut toks).map_err(|(l, m)| err(file, l, m))? {
            let first = toks[0];
            let first_text = first.text(src);
            if !entry.blank_owner && !first.quoted && first_text.first() == Some(&b'$') {
                directive(ctx, src, &toks, file, &mut origin, depth)?;
                continue;
            }
            record(ctx, src, &toks, entry.line, entry.blank_owner, file, &origin)?;
        }
        Ok(())
    })();
    ctx.toks = toks;
    result
}

fn directive(ctx: &mut Ctx, src: &[u8], toks: &[Tok], file: &Arc<Path>, origin: &mut Vec<u8>, depth: usize) -> Result<(), ParseError> {
    let d = toks[0];
    let name = d.text(src);
    let line = d.line as usize;
    let arg = |i: usize, what: &str| toks.get(i).copied().ok_or_else(|| err(file, line, format!("{} needs {what}", lossy(name))));
    let no_more = |n: usize| match toks.get(n) {
        Some(t) => Err(err(file, t.line as usize, format!("trailing garbage '{}' after {}", lossy(t.text(src)), lossy(name)))),
        None => Ok(()),
    };
    if name.eq_ignore_ascii_case(b"$ORIGIN") {
        let t = arg(1, "a name")?;
        let mut new = Vec::new();
        name_to_wire(t.text(src), origin, &mut new).map_err(|e| err(file, t.line as usize, format!("bad $ORIGIN: {e}")))?;
        no_more(2)?;
        if !ctx.explicit_origin && depth == 0 && ctx.records.is_empty() && ctx.directive_origin.is_none() {
            ctx.directive_origin = Some(new.clone());
        }
        *origin = new;
    } else if name.eq_ignore_ascii_case(b"$TTL") {
        let t = arg(1, "a TTL")?;
        let ttl = parse_duration(t.text(src), MAX_TTL).map_err(|e| err(file, t.line as usize, e))?;
        no_more(2)?;
        ctx.default_ttl = Some(ttl as u32);
    } else if name.eq_ignore_ascii_case(b"$INCLUDE") {
        let t = arg(1, "a file name")?;
        let mut path_bytes = Vec::new();
        super::lexer::unescape_into(t.text(src), &mut path_bytes).map_err(|e| err(file, t.line as usize, e))?;
        let rel = PathBuf::from(String::from_utf8_lossy(&path_bytes).into_owned());
        let path = match file.parent() {
            Some(dir) if rel.is_relative() => dir.join(&rel),
            _ => rel,
        };
        let inc_origin = match toks.get(2) {
            Some(o) => {
                let mut w = Vec::new();
                name_to_wire(o.text(src), origin, &mut w).map_err(|e| err(file, o.line as usize, format!("bad $INCLUDE origin: {e}")))?;
                w
            }
            None => origin.clone(),
        };
        no_more(3)?;
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(err(file, line, format!("$INCLUDE nested deeper than {MAX_INCLUDE_DEPTH} (a cycle?)")));
        }
        ctx.includes += 1;
        if ctx.includes > crate::input::MAX_INCLUDES {
            return Err(err(file, line, format!("more than {} $INCLUDEs in one zone", crate::input::MAX_INCLUDES)));
        }
        let path = crate::input::inside_root(&path, &ctx.include_root)
            .map_err(|e| err(file, line, format!("$INCLUDE {}: {e}", path.display())))?;
        let text =
            crate::input::read_text(&path, &mut ctx.budget).map_err(|e| err(file, line, format!("$INCLUDE {}: {e}", path.display())))?;
        let inc_file: Arc<Path> = Arc::from(path.as_path());
        // The included file's origin changes stay inside it (RFC 1035 §5.1).
        parse_text(ctx, &text, &inc_file, inc_origin, depth + 1)?;
    } else if name.eq_ignore_ascii_case(b"$GENERATE") {
        generate(ctx, src, toks, file, origin)?;
    } else {
        return Err(err(file, line, format!("unsupported directive '{}'", lossy(name))));
    }
    Ok(())
}

/// `$GENERATE range lhs [ttl] [class] type rhs...` (see [`super::generate`]): each record is
/// written out as a line of its own and read as one, so it gets every rule a written record
/// gets; errors name the directive's line.
fn generate(ctx: &mut Ctx, src: &[u8], toks: &[Tok], file: &Arc<Path>, origin: &[u8]) -> Result<(), ParseError> {
    use super::generate::{parse_range, substitute};
    let line = toks[0].line as usize;
    let (Some(range), Some(lhs)) = (toks.get(1), toks.get(2)) else {
        return Err(err(file, line, "$GENERATE needs a range, an owner, a type and RDATA"));
    };
    let range = parse_range(range.text(src)).map_err(|e| err(file, line, e))?;
    let mut i = 3;
    while let Some(t) = toks.get(i) {
        let text = t.text(src);
        if text.first().is_some_and(u8::is_ascii_digit) || !matches!(classify_class(text), ClassTok::NotAClass) {
            i += 1;
        } else {
            break;
        }
    }
    if toks.len() < i + 2 {
        return Err(err(file, line, "$GENERATE needs a type and RDATA after the owner"));
    }
    let (middle, rhs) = (&toks[3..=i], &toks[i + 1..]);
    let mut text = Vec::with_capacity(64);
    let mut gen_toks = Vec::with_capacity(8);
    for value in range.values() {
        text.clear();
        let sub_err = |e: String| err(file, line, format!("$GENERATE: {e}"));
        substitute(lhs.text(src), value, &mut text).map_err(sub_err)?;
        for t in middle {
            text.push(b' ');
            text.extend_from_slice(t.text(src));
        }
        for t in rhs {
            text.push(b' ');
            substitute(t.text(src), value, &mut text).map_err(sub_err)?;
        }
        let mut lexer = Lexer::new(&text);
        lexer.next_entry(&mut gen_toks).map_err(|(_, m)| err(file, line, format!("$GENERATE: {m}")))?;
        if lexer.next_entry(&mut Vec::new()).map_err(|(_, m)| err(file, line, m))?.is_some() {
            return Err(err(file, line, "$GENERATE: RDATA holds a line break"));
        }
        for t in &mut gen_toks {
            t.line = line as u32;
        }
        record(ctx, &text, &gen_toks, line, false, file, origin)?;
    }
    Ok(())
}

fn record(
    ctx: &mut Ctx,
    src: &[u8],
    toks: &[Tok],
    line: usize,
    blank_owner: bool,
    file: &Arc<Path>,
    origin: &[u8],
) -> Result<(), ParseError> {
    let mut i = 0;
    let owner = if blank_owner {
        match &ctx.last_owner {
            Some(o) => o.clone(),
            None => return Err(err(file, line, "blank owner but no previous owner")),
        }
    } else {
        let t = toks[0];
        i = 1;
        let mut o = Vec::with_capacity(32);
        name_to_wire(t.text(src), origin, &mut o).map_err(|e| err(file, t.line as usize, format!("bad owner name: {e}")))?;
        o
    };
    let mut ttl: Option<u32> = None;
    let mut class_seen = false;
    let rtype = loop {
        let Some(&t) = toks.get(i) else {
            return Err(err(file, toks[toks.len() - 1].line as usize, "missing record type"));
        };
        let text = t.text(src);
        i += 1;
        if text.first().is_some_and(u8::is_ascii_digit) {
            if ttl.is_some() {
                return Err(err(file, t.line as usize, format!("second TTL '{}'", lossy(text))));
            }
            ttl = Some(parse_duration(text, MAX_TTL).map_err(|e| err(file, t.line as usize, e))? as u32);
            continue;
        }
        match classify_class(text) {
            ClassTok::In if !class_seen => {
                class_seen = true;
                continue;
            }
            ClassTok::Other => return Err(err(file, t.line as usize, format!("unsupported class '{}' (only IN is served)", lossy(text)))),
            _ => {}
        }
        match type_from_bytes(text) {
            Some(rt) => break rt,
            None => return Err(err(file, t.line as usize, format!("unknown type '{}'", lossy(text)))),
        }
    };
    let mut rdata = Vec::with_capacity(32);
    let mut cursor = Cursor::new(src, &toks[i..], origin, line);
    encode(rtype, &mut cursor, &mut rdata).map_err(|(l, m)| err(file, l, m))?;
    let ttl = match ttl.or(ctx.default_ttl).or(ctx.last_ttl) {
        Some(t) => t,
        // No $TTL and no TTL so far: the SOA MINIMUM was the default TTL before RFC 2308; BIND
        // takes it, warns, and keeps it as the default for the records after (as if $TTL).
        None if rtype == super::types::SOA && rdata.len() >= 4 => {
            let min = u32::from_be_bytes(rdata[rdata.len() - 4..].try_into().expect("4 octets"));
            let min = min.min(MAX_TTL as u32);
            ctx.warnings.push(format!("{}:{line}: no TTL given and no $TTL: using the SOA MINIMUM {min}", file.display()));
            ctx.default_ttl = Some(min);
            min
        }
        None => return Err(err(file, line, "no TTL: give one on the record or set $TTL")),
    };
    ctx.last_ttl = Some(ttl);
    match &mut ctx.last_owner {
        Some(last) if !blank_owner => {
            last.clear();
            last.extend_from_slice(&owner);
        }
        None => ctx.last_owner = Some(owner.clone()),
        _ => {}
    }
    ctx.records.push(Record { owner, ttl, rtype, rdata, line, file: Arc::clone(file) });
    Ok(())
}
