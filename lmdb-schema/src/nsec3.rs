//! NSEC3 (RFC 5155): the hash of a name, its base32hex label, and the `nsec3` index that
//! finds the NSEC3 record matching or covering a hash with one floor lookup, as the range
//! tables find a range.
//!
//! ```text
//! key   := apexlen:u8 apex_key hash      (the hash's raw bytes, usually 20)
//! value := (empty)
//! ```
//!
//! One entry per NSEC3 owner of a zone (`<base32hex(hash)>.<apex>`), written by the loader
//! with the name itself. The NSEC3 RRset stays in `names` under its owner; the index only
//! orders the hashes. Covering hash of `h`: the greatest entry ≤ `h` under the zone's prefix,
//! or, below the first, the last (the chain wraps, §7.2).

use ring::digest;

/// RFC 5155 §5: IH(salt, x, 0) = H(x || salt); IH(salt, x, k) = H(IH(salt, x, k-1) || salt).
/// `name_wire` is the owner in canonical (lower-case, uncompressed) wire form. Only hash
/// algorithm 1 (SHA-1) exists.
pub fn hash(name_wire: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(name_wire);
    ctx.update(salt);
    let mut out: [u8; 20] = ctx.finish().as_ref().try_into().expect("SHA-1 is 20 bytes");
    for _ in 0..iterations {
        let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&out);
        ctx.update(salt);
        out = ctx.finish().as_ref().try_into().expect("SHA-1 is 20 bytes");
    }
    out
}

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The lower-case base32hex label of a 20-byte hash (32 characters), written into `out`.
pub fn label(hash: &[u8; 20], out: &mut [u8; 32]) {
    // 20 bytes are exactly four 40-bit groups of eight 5-bit digits.
    for (group, chunk) in hash.chunks_exact(5).enumerate() {
        let bits = chunk.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        for i in 0..8 {
            out[group * 8 + i] = BASE32HEX[((bits >> (35 - 5 * i)) & 31) as usize];
        }
    }
}

/// The hash a base32hex owner label stands for (either case); None if it is not one.
#[allow(clippy::manual_is_multiple_of)] // is_multiple_of is newer than the workspace MSRV (1.85)
pub fn decode_label(label: &[u8]) -> Option<Vec<u8>> {
    if label.is_empty() || label.len() % 8 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(label.len() * 5 / 8);
    for chunk in label.chunks_exact(8) {
        let mut bits = 0u64;
        for &c in chunk {
            let v = match c.to_ascii_lowercase() {
                c @ b'0'..=b'9' => c - b'0',
                c @ b'a'..=b'v' => c - b'a' + 10,
                _ => return None,
            };
            bits = bits << 5 | u64::from(v);
        }
        out.extend_from_slice(&bits.to_be_bytes()[3..]);
    }
    Some(out)
}

/// The index key of `hash` in the zone with apex key `apex_key`, into `out`.
pub fn index_key(apex_key: &[u8], hash: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(apex_key.len() as u8);
    out.extend_from_slice(apex_key);
    out.extend_from_slice(hash);
}

/// The index key for the name at `owner_key` in the zone of `zone` labels, if it holds NSEC3
/// there and is an NSEC3 owner (one base32hex label right below the apex).
pub fn entry_for(owner_key: &[u8], zone: u8, has_nsec3: bool) -> Option<Vec<u8>> {
    if !has_nsec3 || crate::name::label_count(owner_key) != zone as usize + 1 {
        return None;
    }
    let apex = crate::name::parent(owner_key)?;
    let label = &owner_key[apex.len()..owner_key.len() - 1];
    let hash = decode_label(label)?;
    let mut key = Vec::new();
    index_key(apex, &hash, &mut key);
    Some(key)
}

/// NSEC3PARAM / NSEC3 fields a lookup needs: (hash algorithm, flags, iterations, salt).
pub fn params(rdata: &[u8]) -> Option<(u8, u8, u16, &[u8])> {
    let salt_len = *rdata.get(4)? as usize;
    let salt = rdata.get(5..5 + salt_len)?;
    Some((rdata[0], rdata[1], u16::from_be_bytes([rdata[2], rdata[3]]), salt))
}

/// The NSEC3 flag that marks opt-out (RFC 5155 §3.1.2.1).
pub const FLAG_OPT_OUT: u8 = 0x01;

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5155 Appendix A: example.'s NSEC3 hashes with salt aabbccdd, 12 iterations.
    #[test]
    fn rfc5155_appendix_a_hashes() {
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        let mut text = [0u8; 32];
        for (name, expect) in [
            (&b"\x07example\x00"[..], "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            (b"\x01a\x07example\x00", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            (b"\x03ns1\x07example\x00", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            (b"\x01*\x01w\x07example\x00", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
        ] {
            label(&hash(name, &salt, 12), &mut text);
            assert_eq!(std::str::from_utf8(&text).unwrap(), expect);
            assert_eq!(decode_label(expect.as_bytes()).unwrap(), hash(name, &salt, 12).to_vec());
            assert_eq!(decode_label(expect.to_ascii_uppercase().as_bytes()).unwrap(), hash(name, &salt, 12).to_vec());
        }
        assert_eq!(decode_label(b"www"), None);
        assert_eq!(decode_label(b"zzzzzzzz"), None);
        assert_eq!(params(&[1, 1, 0, 12, 4, 0xaa, 0xbb, 0xcc, 0xdd]), Some((1, 1, 12, &salt[..])));
    }
}
