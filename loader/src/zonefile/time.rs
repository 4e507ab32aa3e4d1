//! RRSIG signature times (RFC 4034 §3.2): `YYYYMMDDHHmmSS` in UTC, or seconds since the epoch.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn parse_sig_time(text: &[u8]) -> Result<u32, String> {
    if !text.iter().all(u8::is_ascii_digit) || text.is_empty() {
        return Err(format!("'{}' is neither YYYYMMDDHHmmSS nor a number", super::names::lossy(text)));
    }
    if text.len() != 14 {
        return super::types::parse_uint(text, u32::MAX as u64)
            .map(|v| v as u32)
            .ok_or_else(|| format!("'{}' is over 4294967295", super::names::lossy(text)));
    }
    let n = |a: usize, b: usize| text[a..b].iter().fold(0i64, |v, &d| v * 10 + (d - b'0') as i64);
    let (y, mo, d, h, mi, s) = (n(0, 4), n(4, 6), n(6, 8), n(8, 10), n(10, 12), n(12, 14));
    let month_days = [31, if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&mo) || d < 1 || d > month_days[(mo - 1) as usize] || h > 23 || mi > 59 || s > 59 {
        return Err(format!("bad date '{}'", super::names::lossy(text)));
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    // RFC 4034 §3.1.5: the field is a serial number (RFC 1982), so a date past 2106 wraps
    // around, as Knot and BIND read it.
    Ok(secs.rem_euclid(1 << 32) as u32)
}

pub(crate) fn format_sig_time(t: u32) -> String {
    let t = t as i64;
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
}
