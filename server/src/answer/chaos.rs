//! Class CH: the server's identity and version as TXT (RFC 4892), off unless configured
//! (`--identity`, `--server-version`).
//!
//! Answered as Knot answers them: `id.server.` and `hostname.bind.` give the identity,
//! `version.bind.` and `version.server.` the version, TTL 0, class CH, AA clear. Any other name,
//! any QTYPE but TXT (ANY too, where NSD would answer) and a text that is not set get REFUSED,
//! so an unconfigured server says nothing about itself.

use super::writer::{Owner, Section, Writer, RCODE_NOERROR, RCODE_REFUSED};
use crate::query::{QueryName, HEADER_LEN};
use lmdb_schema::rtype;

pub const CLASS_CH: u16 = 3;

/// Name keys (the `QueryName::key` form: labels from the root, each after a 0) of the names.
const IDENTITY_NAMES: [&[u8]; 2] = [b"\0server\0id\0", b"\0bind\0hostname\0"];
const VERSION_NAMES: [&[u8]; 2] = [b"\0bind\0version\0", b"\0server\0version\0"];

/// The TXT RDATA of each answer, built once from the configuration.
#[derive(Clone, Debug, Default)]
pub struct ChaosTexts {
    identity: Option<Vec<u8>>,
    version: Option<Vec<u8>>,
}

impl ChaosTexts {
    /// Texts of at most 255 bytes (the configuration checks it); longer ones are cut there.
    pub fn new(identity: Option<&str>, version: Option<&str>) -> ChaosTexts {
        let txt = |text: &str| {
            let text = &text.as_bytes()[..text.len().min(255)];
            let mut rdata = Vec::with_capacity(1 + text.len());
            rdata.push(text.len() as u8);
            rdata.extend_from_slice(text);
            rdata
        };
        ChaosTexts { identity: identity.map(txt), version: version.map(txt) }
    }

    fn rdata(&self, name: &QueryName) -> Option<&[u8]> {
        let key = name.key.as_slice();
        if IDENTITY_NAMES.contains(&key) {
            self.identity.as_deref()
        } else if VERSION_NAMES.contains(&key) {
            self.version.as_deref()
        } else {
            None
        }
    }
}

/// Answers a class CH question into `w`; returns the RCODE.
pub fn answer(texts: &ChaosTexts, name: &QueryName, qtype: u16, w: &mut Writer<'_>) -> u8 {
    match texts.rdata(name) {
        Some(rdata) if qtype == rtype::TXT => {
            // The owner points at the question's name, as received (0x20 case kept).
            w.record_in_class(Section::Answer, Owner::At(HEADER_LEN as u16), rtype::TXT, CLASS_CH, 0, &[rdata]);
            RCODE_NOERROR
        }
        _ => RCODE_REFUSED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(wire: &[u8]) -> QueryName {
        let mut packet = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        packet.extend_from_slice(wire);
        packet.extend_from_slice(&[0, 16, 0, 3]);
        let mut name = QueryName::default();
        crate::query::parse(&packet, &mut name).unwrap();
        name
    }

    #[test]
    fn each_name_gets_its_text_and_unset_texts_refuse() {
        let texts = ChaosTexts::new(Some("ns1"), Some("lmdns 1"));
        assert_eq!(texts.rdata(&name(b"\x02id\x06server\x00")), Some(&b"\x03ns1"[..]));
        assert_eq!(texts.rdata(&name(b"\x08HOSTNAME\x04bind\x00")), Some(&b"\x03ns1"[..]));
        assert_eq!(texts.rdata(&name(b"\x07version\x04BIND\x00")), Some(&b"\x07lmdns 1"[..]));
        assert_eq!(texts.rdata(&name(b"\x07version\x06server\x00")), Some(&b"\x07lmdns 1"[..]));
        assert_eq!(texts.rdata(&name(b"\x07authors\x04bind\x00")), None);
        assert_eq!(texts.rdata(&name(b"\x03www\x07version\x04bind\x00")), None);
        let off = ChaosTexts::default();
        assert_eq!(off.rdata(&name(b"\x07version\x04bind\x00")), None);
        assert_eq!(off.rdata(&name(b"\x02id\x06server\x00")), None);
    }
}
