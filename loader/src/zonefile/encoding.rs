//! Base16, Base64 and Base32hex (RFC 4648) for DNSSEC and friends, by the `data-encoding`
//! crate; decoders append to the RDATA buffer in place. Base64 keeps BIND's and Knot's
//! leniency about non-zero trailing bits (`AB==`), which canonical decoding would refuse.

use std::sync::LazyLock;

use data_encoding::{Encoding, Specification, BASE32_DNSSEC, HEXLOWER_PERMISSIVE};

/// Padded Base64 that ignores the bits past the last octet, as master-file readers do.
static BASE64_LENIENT: LazyLock<Encoding> = LazyLock::new(|| {
    let mut spec = Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
    spec.padding = Some('=');
    spec.check_trailing_bits = false;
    spec.encoding().expect("a valid Base64 specification")
});

pub(crate) fn hex_encode(data: &[u8], out: &mut String) {
    HEXLOWER_PERMISSIVE.encode_append(data, out);
}

/// Decodes `text` with `enc`, appending the octets to `out`; `what` names the encoding in errors.
fn decode_append(enc: &Encoding, text: &[u8], out: &mut Vec<u8>, what: &str) -> Result<(), String> {
    let at = out.len();
    let len = enc.decode_len(text.len()).map_err(|_| format!("bad {what}: wrong length"))?;
    out.resize(at + len, 0);
    match enc.decode_mut(text, &mut out[at..]) {
        Ok(n) => {
            out.truncate(at + n);
            Ok(())
        }
        Err(partial) => {
            out.truncate(at);
            let e = partial.error;
            Err(match text.get(e.position) {
                Some(&c) if e.kind == data_encoding::DecodeKind::Symbol => format!("bad {what} character '{}'", c.escape_ascii()),
                _ => format!("bad {what}: {e}"),
            })
        }
    }
}

/// Appends the octets of a hex string (tokens already joined) to `out`.
pub(crate) fn hex_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if !text.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    decode_append(&HEXLOWER_PERMISSIVE, text, out, "hex")
}

pub(crate) fn base64_encode(data: &[u8], out: &mut String) {
    BASE64_LENIENT.encode_append(data, out);
}

/// Decodes padded Base64 whose characters may be spread over several tokens (already
/// concatenated into `text`, white space removed).
pub(crate) fn base64_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    if !text.len().is_multiple_of(4) {
        return Err("bad base64: length is not a multiple of 4".into());
    }
    decode_append(&BASE64_LENIENT, text, out, "base64")
}

/// Unpadded Base32hex, lower case (as NSEC3 owner hashes are written).
pub(crate) fn base32hex_encode(data: &[u8], out: &mut String) {
    BASE32_DNSSEC.encode_append(data, out);
}

/// Base32hex in either case; trailing `=` padding is accepted and ignored.
pub(crate) fn base32hex_decode(text: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let end = text.iter().rposition(|&c| c != b'=').map_or(0, |p| p + 1);
    decode_append(&BASE32_DNSSEC, &text[..end], out, "base32hex")
}
