//! BIND's `$GENERATE start-stop[/step] lhs [ttl] [class] type rhs`: one record per value of
//! the range, `$` in lhs and rhs replaced by the value, `${offset[,width[,base]]}` by the value
//! plus offset, zero-padded to width, in base d, o, x, X, n or N (nibbles, reversed and
//! dot-separated, as in ip6.arpa names). `\$` is a literal `$`. ISPs write reverse zones so.

use super::names::lossy;

/// Most records one `$GENERATE` may produce: a whole /16 of PTRs with room to spare, while a
/// typo like `1-4000000000` fails at once instead of filling memory.
pub(crate) const MAX_GENERATED: u64 = 1 << 20;

/// A parsed `start-stop[/step]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub start: u32,
    pub stop: u32,
    pub step: u32,
}

impl Range {
    pub fn values(self) -> impl Iterator<Item = u32> {
        (self.start..=self.stop).step_by(self.step as usize)
    }
}

pub(crate) fn parse_range(text: &[u8]) -> Result<Range, String> {
    let bad = |why: &str| format!("bad $GENERATE range '{}': {why}", lossy(text));
    let text_str = std::str::from_utf8(text).map_err(|_| bad("not ASCII"))?;
    let (span, step) = match text_str.split_once('/') {
        Some((span, step)) => (span, step.parse::<u32>().map_err(|_| bad("the step is not a number"))?),
        None => (text_str, 1),
    };
    let (start, stop) = span.split_once('-').ok_or_else(|| bad("want start-stop[/step]"))?;
    let start = start.parse::<u32>().map_err(|_| bad("start is not a number"))?;
    let stop = stop.parse::<u32>().map_err(|_| bad("stop is not a number"))?;
    if step == 0 {
        return Err(bad("the step is 0"));
    }
    if stop < start {
        return Err(bad("stop is below start"));
    }
    if (stop - start) as u64 / step as u64 + 1 > MAX_GENERATED {
        return Err(bad(&format!("more than {MAX_GENERATED} records")));
    }
    Ok(Range { start, stop, step })
}

/// Appends `template` with every `$` and `${...}` replaced for `value`. Escapes (`\X`,
/// `\DDD`) are copied as they are, for the name or RDATA parser to decode.
pub(crate) fn substitute(template: &[u8], value: u32, out: &mut Vec<u8>) -> Result<(), String> {
    let mut i = 0;
    while i < template.len() {
        match template[i] {
            b'\\' => {
                out.push(b'\\');
                if let Some(&c) = template.get(i + 1) {
                    out.push(c);
                }
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'{') => {
                let close = template[i..].iter().position(|&c| c == b'}').ok_or("'${' without a closing '}'")?;
                let spec = &template[i + 2..i + close];
                modifier(spec, value, out)?;
                i += close + 1;
            }
            b'$' => {
                out.extend_from_slice(value.to_string().as_bytes());
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(())
}

/// `offset[,width[,base]]`.
fn modifier(spec: &[u8], value: u32, out: &mut Vec<u8>) -> Result<(), String> {
    let bad = || format!("bad $GENERATE modifier '${{{}}}' (want offset[,width[,base]], base one of d o x X n N)", lossy(spec));
    let text = std::str::from_utf8(spec).map_err(|_| bad())?;
    let mut parts = text.split(',');
    let offset: i64 = parts.next().filter(|s| !s.is_empty()).map_or(Ok(0), str::parse).map_err(|_| bad())?;
    let width: usize = parts.next().map_or(Ok(0), str::parse).map_err(|_| bad())?;
    let base = parts.next().unwrap_or("d");
    if parts.next().is_some() || width > 255 {
        return Err(bad());
    }
    let v = value as i64 + offset;
    if v < 0 {
        return Err(format!("$GENERATE value {value} with offset {offset} is negative"));
    }
    let text = match base {
        "d" => format!("{v:0width$}"),
        "o" => format!("{v:0width$o}"),
        "x" => format!("{v:0width$x}"),
        "X" => format!("{v:0width$X}"),
        "n" | "N" => nibbles(v as u64, width, base == "N"),
        _ => return Err(bad()),
    };
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

/// BIND's nibble form: hex digits lowest first, each followed by a dot except the last, as many
/// as the value needs and until `width` characters are written.
fn nibbles(mut v: u64, width: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut out = String::new();
    loop {
        out.push(digits[(v & 15) as usize] as char);
        v >>= 4;
        if v == 0 && out.len() >= width {
            break;
        }
        out.push('.');
        if v == 0 && out.len() >= width {
            break;
        }
    }
    out
}
