//! Update policies (RFC 3007 §3, in the spirit of BIND's `update-policy`): which key (or, for
//! unsigned UPDATE, which network) may change which names and types of a zone.
//!
//! ```text
//! grant KEY zonesub ANY                          any name of the zone, any type
//! grant KEY name www.example.com. A AAAA         exactly that name
//! grant KEY subdomain _acme-challenge.example.com. TXT   that name and every name below it
//! grant KEY wildcard *.example.com. ANY          any name below example.com (one label or more)
//! grant 192.0.2.0/24 zonesub ANY                 unsigned UPDATE from that network
//! ```
//! A rule names a key (`KEY`, a domain name, a final dot implied) or a network (a CIDR, or an
//! address); unsigned UPDATE is only ever allowed by a network rule. `ANY` allows every type.
//! An UPDATE is allowed when every record of its update section is allowed by some rule.

use std::net::IpAddr;

use lmdb_schema::name;
use lmdb_schema::zone::UpdateRule;

use crate::zonefile;

/// How a request proved who it is: the verified TSIG key (absolute, lower case), or nothing.
#[derive(Clone, Copy, Debug)]
pub struct Requester<'a> {
    pub key: Option<&'a str>,
    pub source: IpAddr,
}

const RULE_KINDS: [&str; 4] = ["zonesub", "name", "subdomain", "wildcard"];

/// Parses one rule, `grant IDENTITY RULE [NAME] TYPE...`, for the zone with apex `apex`
/// (presentation, absolute). Names not ending in '.' are absolute all the same (as BIND reads
/// them); a rule's name must be inside the zone.
pub fn parse_rule(text: &str, apex: &str) -> Result<UpdateRule, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [grant, identity, kind, rest @ ..] = words.as_slice() else {
        return Err(format!("{text:?}: expected `grant IDENTITY zonesub|name|subdomain|wildcard [NAME] TYPE...`"));
    };
    if !grant.eq_ignore_ascii_case("grant") {
        return Err(format!("{text:?}: a rule starts with `grant` (deny rules are not supported: what no rule grants is refused)"));
    }
    let identity = match parse_net(identity) {
        Some(net) if net != net.trunc() => return Err(format!("{text:?}: {net} has host bits set (the network is {})", net.trunc())),
        Some(net) => net.to_string(),
        None => {
            let key =
                name::key_from_dotted(identity).map_err(|e| format!("{text:?}: {identity:?} is neither a network nor a key name: {e}"))?;
            format!("key:{}", name::key_to_text(&key))
        }
    };
    let kind = kind.to_ascii_lowercase();
    if !RULE_KINDS.contains(&kind.as_str()) {
        return Err(format!("{text:?}: unknown rule type {kind:?}; use zonesub, name, subdomain or wildcard"));
    }
    let (rule_name, types) = match (kind.as_str(), rest) {
        ("zonesub", types) => (None, types),
        (_, [n, types @ ..]) => {
            let key = name::key_from_dotted(n).map_err(|e| format!("{text:?}: name {n:?}: {e}"))?;
            let apex_key = name::key_from_dotted(apex).map_err(|e| e.to_string())?;
            if !name::is_at_or_below(&key, &apex_key) {
                return Err(format!("{text:?}: {} is outside the zone {apex}", name::key_to_text(&key)));
            }
            if kind == "wildcard" && !name::is_wildcard(&key) {
                return Err(format!("{text:?}: a wildcard rule needs a name starting with `*.`"));
            }
            (Some(name::key_to_text(&key)), types)
        }
        _ => return Err(format!("{text:?}: rule {kind} needs a name")),
    };
    if types.is_empty() {
        return Err(format!("{text:?}: list the record types the rule allows (or ANY)"));
    }
    let mut out = Vec::new();
    for t in types {
        let upper = t.to_ascii_uppercase();
        if upper != "ANY" && zonefile::parse_type(&upper).is_none() {
            return Err(format!("{text:?}: unknown record type {t:?}"));
        }
        out.push(upper);
    }
    Ok(UpdateRule { identity, rule: kind, name: rule_name, types: out })
}

/// The rule back in the syntax it was written in.
pub fn rule_text(rule: &UpdateRule) -> String {
    let identity = rule.identity.strip_prefix("key:").unwrap_or(&rule.identity);
    let name = rule.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
    format!("grant {identity} {}{name} {}", rule.rule, rule.types.join(" "))
}

/// Whether `rule` lets `who` change records of type `rtype` at the name with key `owner_key`
/// in the zone with apex key `apex_key`.
pub fn allows(rule: &UpdateRule, who: Requester<'_>, apex_key: &[u8], owner_key: &[u8], rtype: u16) -> bool {
    let identity_ok = match rule.identity.strip_prefix("key:") {
        Some(key) => who.key == Some(key),
        None => parse_net(&rule.identity).is_some_and(|net| net.contains(&who.source.to_canonical())),
    };
    if !identity_ok {
        return false;
    }
    let type_ok = rule.types.iter().any(|t| t == "ANY" || zonefile::parse_type(t) == Some(rtype));
    if !type_ok {
        return false;
    }
    let rule_key = || rule.name.as_deref().and_then(|n| name::key_from_dotted(n).ok());
    match rule.rule.as_str() {
        "zonesub" => name::is_at_or_below(owner_key, apex_key),
        "name" => rule_key().is_some_and(|k| k == owner_key),
        "subdomain" => rule_key().is_some_and(|k| name::is_at_or_below(owner_key, &k)),
        "wildcard" => rule_key()
            .and_then(|k| name::parent(&k).map(<[u8]>::to_vec))
            .is_some_and(|parent| owner_key.len() > parent.len() && name::is_at_or_below(owner_key, &parent)),
        _ => false,
    }
}

/// A network as rules write it: a CIDR, or a bare address (a host network).
fn parse_net(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>().ok().or_else(|| text.parse::<IpAddr>().ok().map(ipnet::IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Vec<u8> {
        name::key_from_dotted(text).unwrap()
    }

    #[test]
    fn rules_parse_and_print_back() {
        let apex = "example.com.";
        for (text, printed) in [
            ("grant k.example zonesub ANY", "grant k.example. zonesub ANY"),
            ("grant k. name www.example.com. A aaaa", "grant k. name www.example.com. A AAAA"),
            ("grant acme. subdomain _acme-challenge.example.com TXT", "grant acme. subdomain _acme-challenge.example.com. TXT"),
            ("grant k. wildcard *.example.com. ANY", "grant k. wildcard *.example.com. ANY"),
            ("GRANT 192.0.2.0/24 zonesub ANY", "grant 192.0.2.0/24 zonesub ANY"),
            ("grant 2001:db8::1 zonesub TXT", "grant 2001:db8::1/128 zonesub TXT"),
        ] {
            assert_eq!(rule_text(&parse_rule(text, apex).unwrap()), printed, "{text}");
        }
        for (bad, why) in [
            ("deny k. zonesub ANY", "starts with `grant`"),
            ("grant k. sometimes ANY", "unknown rule type"),
            ("grant k. name www.other.net. A", "outside the zone"),
            ("grant k. wildcard www.example.com. A", "starting with `*.`"),
            ("grant k. zonesub", "list the record types"),
            ("grant k. zonesub BOGUS", "unknown record type"),
            ("grant k.", "expected"),
            ("grant 192.0.2.1/24 zonesub ANY", "host bits"),
        ] {
            let err = parse_rule(bad, apex).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn rules_match_identity_name_and_type() {
        let apex = "example.com.";
        let apex_key = key(apex);
        let signed = Requester { key: Some("k."), source: "198.51.100.1".parse().unwrap() };
        let other_key = Requester { key: Some("other."), ..signed };
        let unsigned_inside = Requester { key: None, source: "192.0.2.7".parse().unwrap() };
        let unsigned_outside = Requester { key: None, source: "203.0.113.1".parse().unwrap() };
        let zonesub = parse_rule("grant k. zonesub ANY", apex).unwrap();
        assert!(allows(&zonesub, signed, &apex_key, &key("a.b.example.com."), 1));
        assert!(!allows(&zonesub, other_key, &apex_key, &key("a.example.com."), 1));
        assert!(!allows(&zonesub, unsigned_inside, &apex_key, &key("a.example.com."), 1), "a key rule never allows unsigned");
        let exact = parse_rule("grant k. name www.example.com. A AAAA", apex).unwrap();
        assert!(allows(&exact, signed, &apex_key, &key("www.example.com."), 28));
        assert!(!allows(&exact, signed, &apex_key, &key("www.example.com."), 16), "TXT is not granted");
        assert!(!allows(&exact, signed, &apex_key, &key("x.www.example.com."), 1));
        let sub = parse_rule("grant k. subdomain _acme-challenge.example.com. TXT", apex).unwrap();
        assert!(allows(&sub, signed, &apex_key, &key("_acme-challenge.example.com."), 16));
        assert!(allows(&sub, signed, &apex_key, &key("x._acme-challenge.example.com."), 16));
        assert!(!allows(&sub, signed, &apex_key, &key("www.example.com."), 16));
        let wild = parse_rule("grant k. wildcard *.dyn.example.com. A", apex).unwrap();
        assert!(allows(&wild, signed, &apex_key, &key("host.dyn.example.com."), 1));
        assert!(allows(&wild, signed, &apex_key, &key("a.host.dyn.example.com."), 1));
        assert!(!allows(&wild, signed, &apex_key, &key("dyn.example.com."), 1), "the wildcard's parent itself is not matched");
        let net = parse_rule("grant 192.0.2.0/24 zonesub ANY", apex).unwrap();
        assert!(allows(&net, unsigned_inside, &apex_key, &key("x.example.com."), 1));
        assert!(!allows(&net, unsigned_outside, &apex_key, &key("x.example.com."), 1));
        let mapped = Requester { key: None, source: "::ffff:192.0.2.9".parse().unwrap() };
        assert!(allows(&net, mapped, &apex_key, &key("x.example.com."), 1), "v4-mapped sources are their IPv4 address");
    }
}
