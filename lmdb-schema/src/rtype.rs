//! Resource record type codes (IANA "Resource Record (RR) TYPEs"), shared by the loader and the
//! server so that both name a type the same way.

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const SOA: u16 = 6;
pub const PTR: u16 = 12;
pub const HINFO: u16 = 13;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const SRV: u16 = 33;
pub const NAPTR: u16 = 35;
pub const OPT: u16 = 41;
pub const DNAME: u16 = 39;
pub const DS: u16 = 43;
pub const SSHFP: u16 = 44;
pub const RRSIG: u16 = 46;
pub const NSEC: u16 = 47;
pub const DNSKEY: u16 = 48;
pub const NSEC3: u16 = 50;
pub const NSEC3PARAM: u16 = 51;
pub const TLSA: u16 = 52;
pub const CDS: u16 = 59;
pub const CDNSKEY: u16 = 60;
pub const SVCB: u16 = 64;
pub const HTTPS: u16 = 65;
pub const SPF: u16 = 99;
pub const IXFR: u16 = 251;
pub const AXFR: u16 = 252;
pub const MAILB: u16 = 253;
pub const MAILA: u16 = 254;
pub const ANY: u16 = 255;
pub const CAA: u16 = 257;
pub const TSIG: u16 = 250;
/// Private use (RFC 6895): a geo variant record in transfers between lmdns servers and in the
/// journal (see `geo_rr`).
pub const LMDNS_VARIANT: u16 = 65400;
/// Private use (RFC 6895): a zone's geo policy in transfers between lmdns servers and in the
/// journal (see `geo_rr`).
pub const LMDNS_POLICY: u16 = 65401;
