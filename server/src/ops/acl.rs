//! Access lists: [`Acl`] (addresses) for `--allow-query`, [`TransferAcl`] (addresses and TSIG
//! keys) for `--allow-transfer`.
//!
//! An [`Acl`] is a small sorted list of networks checked linearly: operators list a handful of
//! prefixes, so a scan of a few entries beats any trie, and [`Acl::allows`] neither allocates nor
//! locks. IPv4-mapped IPv6 sources (`::ffff:a.b.c.d`) are matched as the IPv4 address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// One network (an `ipnet` network with every bit beyond the prefix zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    net: IpNet,
}

impl Cidr {
    /// `network/prefix`; fails when the prefix is too long for the family or host bits are set.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Cidr, String> {
        let net = IpNet::new(network, prefix).map_err(|_| format!("{network}/{prefix}: prefix longer than {}", max_prefix(network)))?;
        if net.trunc() != net {
            return Err(format!("{net} has host bits set (the network is {})", net.trunc()));
        }
        Ok(Cidr { net })
    }

    /// Everything of one family: `0.0.0.0/0` or `::/0`.
    pub fn any_v4() -> Cidr {
        Cidr::new(Ipv4Addr::UNSPECIFIED.into(), 0).expect("a /0 has no host bits")
    }

    pub fn any_v6() -> Cidr {
        Cidr::new(Ipv6Addr::UNSPECIFIED.into(), 0).expect("a /0 has no host bits")
    }

    pub fn network(&self) -> IpAddr {
        self.net.addr()
    }

    pub fn prefix(&self) -> u8 {
        self.net.prefix_len()
    }

    /// Whether `ip` (already canonical: no v4-mapped IPv6) lies in this network.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.net.contains(&ip)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.net.fmt(f)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `a.b.c.d`, `a.b.c.d/n`, an IPv6 address, or `ipv6/n`. A bare address is a host network
    /// (/32 or /128).
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        let prefix = match prefix {
            None => max_prefix(network),
            Some(p) => p.parse::<u8>().map_err(|_| format!("{s:?}: bad prefix length {p:?}"))?,
        };
        Cidr::new(network, prefix).map_err(|e| format!("{s:?}: {e}"))
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// A set of networks. Empty allows nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    nets: Vec<Cidr>,
}

impl Acl {
    /// Sorted and deduplicated, so two ways of writing the same list compare equal.
    pub fn new(mut nets: Vec<Cidr>) -> Acl {
        nets.sort();
        nets.dedup();
        Acl { nets }
    }

    /// Every address, IPv4 and IPv6 (the `--allow-query` default).
    pub fn any() -> Acl {
        Acl::new(vec![Cidr::any_v4(), Cidr::any_v6()])
    }

    /// Nobody (the `--allow-transfer` default).
    pub fn none() -> Acl {
        Acl::default()
    }

    /// Parses a list of CIDRs or addresses; the error names the first bad entry.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Acl, String> {
        items.iter().map(|s| s.as_ref().parse::<Cidr>()).collect::<Result<Vec<_>, _>>().map(Acl::new)
    }

    pub fn nets(&self) -> &[Cidr] {
        &self.nets
    }

    /// The entries in presentation form (what `--check-config` prints).
    pub fn to_strings(&self) -> Vec<String> {
        self.nets.iter().map(Cidr::to_string).collect()
    }

    /// Whether `source` may be served. No allocation, no lock: a linear scan.
    #[inline]
    pub fn allows(&self, source: IpAddr) -> bool {
        let source = source.to_canonical();
        self.nets.iter().any(|n| n.contains(source))
    }
}

/// One `--allow-transfer` entry: from a network (unsigned requests allowed), signed with a key
/// (from anywhere), or both.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TransferRule {
    pub net: Option<Cidr>,
    /// TSIG key name, absolute and lower case.
    pub key: Option<String>,
}

impl fmt::Display for TransferRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.net, &self.key) {
            (Some(net), Some(key)) => write!(f, "{net}+key:{key}"),
            (Some(net), None) => write!(f, "{net}"),
            (None, Some(key)) => write!(f, "key:{key}"),
            (None, None) => write!(f, "none"),
        }
    }
}

impl FromStr for TransferRule {
    type Err = String;

    /// `CIDR`, `key:NAME` or `CIDR+key:NAME`.
    fn from_str(s: &str) -> Result<TransferRule, String> {
        let s = s.trim();
        let (net, key) = match s.split_once("key:") {
            Some((net, key)) => {
                let net = net.strip_suffix('+').unwrap_or(net);
                if !net.is_empty() && !s.contains("+key:") {
                    return Err(format!("{s:?}: write a network and a key as CIDR+key:NAME"));
                }
                (net, Some(key))
            }
            None => (s, None),
        };
        let net = if net.is_empty() { None } else { Some(net.parse::<Cidr>()?) };
        let key = match key {
            Some(k) => {
                let k = k.trim().trim_end_matches('.').to_ascii_lowercase();
                if k.is_empty() || k.split('.').any(|l| l.is_empty() || l.len() > 63) {
                    return Err(format!("{s:?}: not a key name"));
                }
                Some(format!("{k}."))
            }
            None => None,
        };
        if net.is_none() && key.is_none() {
            return Err(format!("{s:?}: expected CIDR, key:NAME or CIDR+key:NAME"));
        }
        Ok(TransferRule { net, key })
    }
}

/// Who may transfer zones (`--allow-transfer`). Empty allows nobody.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferAcl {
    rules: Vec<TransferRule>,
}

impl TransferAcl {
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<TransferAcl, String> {
        let mut rules = items.iter().map(|s| s.as_ref().parse::<TransferRule>()).collect::<Result<Vec<_>, _>>()?;
        rules.sort();
        rules.dedup();
        Ok(TransferAcl { rules })
    }

    pub fn none() -> TransferAcl {
        TransferAcl::default()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.rules.iter().map(TransferRule::to_string).collect()
    }

    /// Whether a request from `source`, signed with the (already verified) key `key` if any,
    /// may transfer.
    pub fn allows(&self, source: IpAddr, key: Option<&str>) -> bool {
        let source = source.to_canonical();
        self.rules.iter().any(|r| r.net.is_none_or(|n| n.contains(source)) && r.key.as_deref().is_none_or(|k| Some(k) == key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_rules_combine_networks_and_keys() {
        let acl = TransferAcl::parse(&["127.0.0.0/8", "key:XFR.Example", "192.0.2.0/24+key:peer."]).unwrap();
        assert_eq!(acl.to_strings(), ["key:xfr.example.", "127.0.0.0/8", "192.0.2.0/24+key:peer."]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(acl.allows(ip("127.0.0.1"), None), "a network allows unsigned requests");
        assert!(acl.allows(ip("127.0.0.1"), Some("other.")), "and signed ones");
        assert!(acl.allows(ip("203.0.113.1"), Some("xfr.example.")), "a key allows from anywhere");
        assert!(!acl.allows(ip("203.0.113.1"), None));
        assert!(acl.allows(ip("192.0.2.7"), Some("peer.")), "both: the network and the key");
        assert!(!acl.allows(ip("192.0.2.7"), None));
        assert!(!acl.allows(ip("198.51.100.1"), Some("peer.")));
        assert!(!TransferAcl::none().allows(ip("127.0.0.1"), Some("xfr.example.")));
        for bad in ["key:", "10.0.0.1/8", "10.0.0.0/8key:a", "", "key:a..b"] {
            assert!(TransferAcl::parse(&[bad]).is_err(), "{bad}");
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_cidrs_and_bare_addresses() {
        assert_eq!("10.0.0.0/8".parse::<Cidr>().unwrap().to_string(), "10.0.0.0/8");
        assert_eq!("192.0.2.7".parse::<Cidr>().unwrap().to_string(), "192.0.2.7/32");
        assert_eq!("2001:db8::/32".parse::<Cidr>().unwrap().to_string(), "2001:db8::/32");
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap(), Cidr::any_v4());
    }

    #[test]
    fn rejects_host_bits_and_garbage_naming_the_entry() {
        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(e.contains("10.0.0.1/8") && e.contains("host bits"), "{e}");
        let e = "2001:db8::1/32".parse::<Cidr>().unwrap_err();
        assert!(e.contains("2001:db8::1/32") && e.contains("host bits"), "{e}");
        for bad in ["10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x", "", "10.0.0.0/"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let e = Acl::parse(&["127.0.0.0/8", "127.0.0.1/24"]).unwrap_err();
        assert!(e.contains("127.0.0.1/24"), "{e}");
    }

    #[test]
    fn matches_by_family_and_prefix() {
        let acl = Acl::parse(&["127.0.1.0/24", "2001:db8:1::/48", "192.0.2.9"]).unwrap();
        assert!(acl.allows(ip("127.0.1.1")));
        assert!(acl.allows(ip("127.0.1.255")));
        assert!(!acl.allows(ip("127.0.0.1")));
        assert!(!acl.allows(ip("127.0.2.0")));
        assert!(acl.allows(ip("192.0.2.9")));
        assert!(!acl.allows(ip("192.0.2.10")));
        assert!(acl.allows(ip("2001:db8:1:ffff::1")));
        assert!(!acl.allows(ip("2001:db8:2::1")));
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(acl.allows(ip("::ffff:127.0.1.1")));
        assert!(!acl.allows(ip("::1")));
    }

    #[test]
    fn any_and_none() {
        for a in ["0.0.0.0", "255.255.255.255", "::", "::1", "2001:db8::1", "::ffff:1.2.3.4"] {
            assert!(Acl::any().allows(ip(a)), "{a}");
            assert!(!Acl::none().allows(ip(a)), "{a}");
        }
        assert_eq!(Acl::parse(&["::/0", "0.0.0.0/0", "::/0"]).unwrap(), Acl::any());
    }
}
