//! DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018): a client that sends a
//! client cookie gets a server cookie back; one that returns a valid server cookie has shown
//! that it receives our answers at its address, so response rate limiting lets it through
//! (a spoofer never sees the cookie).
//!
//! Server cookie (16 bytes): version 1, three reserved bytes, a 32-bit Unix time, and
//! SipHash-2-4 over client cookie | version | reserved | time | client address, keyed with the
//! server secret. Servers sharing a secret (`--cookie-secret`, an anycast fleet) accept each
//! other's cookies. A cookie is valid from 1 hour in the past to 5 minutes in the future
//! (RFC 9018 §4.3).

use std::hash::Hasher;
use std::net::IpAddr;

use siphasher::sip::SipHasher24;

use crate::query::Cookie;

/// Length of the server cookies we make.
pub const SERVER_COOKIE_LEN: usize = 16;
/// How old a server cookie may be, in seconds (RFC 9018 §4.3).
const MAX_AGE: u32 = 3600;
/// How far in the future its time may be (clock skew between servers sharing the secret).
const MAX_SKEW: u32 = 300;

/// The key server cookies are made with.
#[derive(Clone, Copy)]
pub struct CookieSecret([u8; 16]);

impl std::fmt::Debug for CookieSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieSecret(..)")
    }
}

impl CookieSecret {
    /// A random secret (from the kernel), for a server that shares it with nobody.
    pub fn random() -> std::io::Result<CookieSecret> {
        use std::io::Read;
        let mut key = [0u8; 16];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(CookieSecret(key))
    }

    /// A secret given as 32 hex digits.
    pub fn from_hex(text: &str) -> Result<CookieSecret, String> {
        let bytes = hex_bytes(text.trim()).ok_or("the cookie secret must be 32 hex digits (16 bytes)")?;
        Ok(CookieSecret(bytes))
    }

    fn hash(&self, client: &[u8; 8], head: &[u8; 8], ip: IpAddr) -> [u8; 8] {
        let mut h = SipHasher24::new_with_key(&self.0);
        h.write(client);
        h.write(head);
        match ip.to_canonical() {
            IpAddr::V4(v4) => h.write(&v4.octets()),
            IpAddr::V6(v6) => h.write(&v6.octets()),
        }
        h.finish().to_be_bytes()
    }

    /// A fresh server cookie for `client` at `ip`, made at Unix time `now`.
    pub fn server_cookie(&self, client: &[u8; 8], ip: IpAddr, now: u32) -> [u8; SERVER_COOKIE_LEN] {
        let mut head = [0u8; 8];
        head[0] = 1;
        head[4..8].copy_from_slice(&now.to_be_bytes());
        let mut out = [0u8; SERVER_COOKIE_LEN];
        out[..8].copy_from_slice(&head);
        out[8..].copy_from_slice(&self.hash(client, &head, ip));
        out
    }

    /// True if `cookie` carries a server cookie we (or a server sharing the secret) made for
    /// this client cookie and address, recently enough.
    pub fn is_valid(&self, cookie: &Cookie, ip: IpAddr, now: u32) -> bool {
        if cookie.server_len as usize != SERVER_COOKIE_LEN || cookie.server[0] != 1 {
            return false;
        }
        let head: [u8; 8] = cookie.server[..8].try_into().expect("8 bytes");
        let made = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        // Serial-number arithmetic is not needed before 2106; plain bounds with wrapping subtraction.
        let fresh = now.wrapping_sub(made) <= MAX_AGE || made.wrapping_sub(now) <= MAX_SKEW;
        fresh && self.hash(&cookie.client, &head, ip)[..] == cookie.server[8..16]
    }
}

fn hex_bytes(text: &str) -> Option<[u8; 16]> {
    if text.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The current Unix time in seconds, as cookies count it.
pub fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_cookies_are_valid_for_their_client_address_and_an_hour() {
        let secret = CookieSecret::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
        let other = CookieSecret::from_hex("f00102030405060708090a0b0c0d0e0f").unwrap();
        let client = [7u8; 8];
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let made = secret.server_cookie(&client, ip, 1_000_000);
        let mut server = [0u8; 32];
        server[..16].copy_from_slice(&made);
        let cookie = Cookie { client, server, server_len: 16 };
        assert!(secret.is_valid(&cookie, ip, 1_000_000));
        assert!(secret.is_valid(&cookie, ip, 1_000_000 + 3600));
        assert!(!secret.is_valid(&cookie, ip, 1_000_000 + 3601), "too old");
        assert!(secret.is_valid(&cookie, ip, 1_000_000 - 300), "slight skew");
        assert!(!secret.is_valid(&cookie, ip, 1_000_000 - 301), "from the future");
        assert!(!secret.is_valid(&cookie, "192.0.2.2".parse().unwrap(), 1_000_000), "another address");
        assert!(!other.is_valid(&cookie, ip, 1_000_000), "another secret");
        assert!(!secret.is_valid(&Cookie { client: [8; 8], ..cookie }, ip, 1_000_000), "another client cookie");
        assert!(CookieSecret::from_hex("0001").is_err());
    }
}
