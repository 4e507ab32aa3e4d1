//! The key file format against BIND's own `tsig-keygen`: we read what it writes, and write
//! byte for byte what it writes.

mod common;

use std::process::Command;

use common::require;
use lmdns_proto::keyfile::{format_key, parse_keys};
use lmdns_proto::tsig::Algorithm;

fn tsig_keygen(args: &[&str]) -> String {
    let tool = require("tsig-keygen", "bind9");
    let out = Command::new(tool).args(args).output().expect("run tsig-keygen");
    assert!(out.status.success(), "tsig-keygen {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn reads_and_writes_what_tsig_keygen_writes() {
    for (alg, name) in [
        (Algorithm::HmacSha512, "name"),
        (Algorithm::HmacSha256, "xfr.example.com."),
        (Algorithm::HmacSha1, "Old-Peer.example"),
        (Algorithm::HmacSha384, "k384"),
    ] {
        let text = tsig_keygen(&["-a", alg.name_text(), name]);
        let keys = parse_keys(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        let absolute = if name.ends_with('.') { name.to_string() } else { format!("{name}.") };
        assert_eq!((k.name.as_str(), k.algorithm), (absolute.as_str(), alg));
        assert_eq!(k.secret.len(), alg.mac_len(), "tsig-keygen makes secrets as long as the digest");
        assert_eq!(format_key(name, alg, &k.secret), text);
    }
    // Several keys in one file, as `cat`ed together.
    let both = tsig_keygen(&["a.example"]) + &tsig_keygen(&["-a", "hmac-sha512", "b.example"]);
    let keys = parse_keys(&both).expect("two keys");
    assert_eq!(
        keys.iter().map(|k| (k.name.as_str(), k.algorithm)).collect::<Vec<_>>(),
        [("a.example.", Algorithm::HmacSha256), ("b.example.", Algorithm::HmacSha512)]
    );
}

#[test]
fn hmac_md5_keys_are_refused_by_name() {
    let text = tsig_keygen(&["-a", "hmac-md5", "legacy"]);
    let e = parse_keys(&text).unwrap_err();
    assert_eq!(e.line, 2);
    assert!(e.to_string().contains("hmac-md5"), "{e}");
    let secret_line = text.lines().find(|l| l.contains("secret")).expect("a secret line");
    let b64 = secret_line.split('"').nth(1).expect("quoted secret");
    assert!(!e.to_string().contains(b64));
}
