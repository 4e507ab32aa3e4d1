//! Interop of the server side of TSIG with real clients: BIND's `dig` and Knot's `kdig` sign
//! requests we verify, and verify the answers we sign — single answers over UDP and multi-message
//! zone transfers over TCP ([`StreamSigner`]). RFC 8945 has no test vectors; these are ours.
//!
//! Each exchange is also run with a deliberately bad answer to show the tool does reject it,
//! so a passing check means the tool verified our MAC, not that it ignored it.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::time::Instant;

use common::*;
use lmdns_proto::tsig::{self, Algorithm, Key, StreamSigner, TsigRr, DEFAULT_FUDGE};
use lmdns_proto::wire::rtype;

struct Tool {
    name: &'static str,
    path: std::path::PathBuf,
}

fn dig() -> Tool {
    Tool { name: "dig", path: require("dig", "bind9-dnsutils") }
}

fn kdig() -> Tool {
    Tool { name: "kdig", path: require("kdig", "knot-dnsutils") }
}

/// How a tool run ended: exit status, everything it printed.
struct Outcome {
    ok: bool,
    out: String,
}

/// Runs `tool` for one UDP query to a socket of ours; `respond` gets the request and what
/// `find` made of it and returns the answer to send (or nothing).
fn udp_exchange(tool: &Tool, args: &[&str], respond: impl FnOnce(&[u8], &TsigRr) -> Option<Vec<u8>>) -> (Vec<u8>, Outcome) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
    let port = socket.local_addr().expect("local addr").port().to_string();
    let mut cmd = Command::new(&tool.path);
    cmd.arg("@127.0.0.1").arg("-p").arg(&port).args(args);
    let child = Running::spawn(tool.name, cmd);
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut buf = vec![0u8; 65535];
    let (len, from) = socket.recv_from(&mut buf).unwrap_or_else(|e| panic!("{} sent no query within {DEADLINE:?}: {e}", tool.name));
    let request = buf[..len].to_vec();
    let tsig = tsig::find(&request).expect("request parses").unwrap_or_else(|| panic!("{} did not sign its request", tool.name));
    if let Some(reply) = respond(&request, &tsig) {
        socket.send_to(&reply, from).expect("send answer");
    }
    let (status, out) = child.wait_output(DEADLINE);
    (request, Outcome { ok: status.success(), out })
}

/// What each tool prints when a TSIG does not check out: dig ";; Couldn't verify signature:
/// ..." for a single answer, ";; WARNING -- Some TSIG could not be validated" after a transfer,
/// "Expected a TSIG or SIG(0)" for an unsigned one; kdig ";; WARNING: reply verification for
/// ... (failed to verify TSIG)" (and exits 0 regardless).
fn rejected_tsig(tool: &Tool, out: &str) -> bool {
    let markers: &[&str] = match tool.name {
        "dig" => &["Couldn't verify", "could not be validated", "TSIG or SIG(0)", "tsig verify failure"],
        _ => &["reply verification", "failed to verify", "TSIG missing"],
    };
    markers.iter().any(|m| out.contains(m))
}

/// Whether the tool accepted the answer's TSIG and got our SOA.
fn accepted(tool: &Tool, o: &Outcome, serial: u32) -> bool {
    o.ok && !rejected_tsig(tool, &o.out) && o.out.contains("NOERROR") && o.out.contains(&format!(" {serial} 3600 900 604800 300"))
}

fn check_request(tool: &Tool, request: &[u8], tsig: &TsigRr, key: &Key) -> Vec<u8> {
    let verified = tsig::verify_request(request, tsig, Some(key), now())
        .unwrap_or_else(|f| panic!("{}'s {} request does not verify: {f}", tool.name, key.algorithm));
    assert_eq!(verified.mac.len(), key.algorithm.mac_len());
    assert_eq!(tsig.key_name, key.name);
    // One byte changed anywhere before the TSIG record (the ID aside, see RFC 8945 §4.3.2) and
    // it no longer verifies.
    for i in 2..tsig.offset {
        let mut m = request.to_vec();
        m[i] ^= 0x01;
        let ok = tsig::find(&m).ok().flatten().is_some_and(|t| tsig::verify_request(&m, &t, Some(key), now()).is_ok());
        assert!(!ok, "{}'s request still verifies with byte {i} changed", tool.name);
    }
    let wrong = Key { secret: secret(WRONG_SECRET_B64), ..key.clone() };
    assert_eq!(tsig::verify_request(request, tsig, Some(&wrong), now()).unwrap_err().error, tsig::BADSIG);
    verified.mac
}

fn soa_query_args(y: &str, tool: &Tool) -> Vec<String> {
    let mut a = vec!["-y".to_string(), y.to_string(), "example.com".into(), "SOA".into()];
    match tool.name {
        "dig" => a.extend(["+tries=1", "+time=3"].map(String::from)),
        _ => a.extend(["+retry=0", "+time=3"].map(String::from)),
    }
    a
}

fn udp_round_trip(tool: Tool, algorithm: Algorithm) {
    let key = key("testkey.", algorithm, SECRET_B64);
    let args = soa_query_args(&y_arg(algorithm, "testkey.", SECRET_B64), &tool);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let (_, good) = udp_exchange(&tool, &args, |request, t| {
        let mac = check_request(&tool, request, t, &key);
        let mut reply = soa_answer(request, 2024010101);
        tsig::sign_response(&mut reply, &key, &mac, now(), DEFAULT_FUDGE, 0, &[]);
        Some(reply)
    });
    assert!(accepted(&tool, &good, 2024010101), "{} rejected our {algorithm} answer:\n{}", tool.name, good.out);

    // Signed with the wrong secret, over the wrong request MAC, or not at all: each refused.
    let wrong = Key { secret: secret(WRONG_SECRET_B64), ..key.clone() };
    type Signer<'a> = Box<dyn Fn(&mut Vec<u8>, &[u8]) + 'a>;
    let bad: [(&str, Signer); 3] = [
        ("wrong secret", Box::new(|m: &mut Vec<u8>, mac: &[u8]| drop(tsig::sign_response(m, &wrong, mac, now(), DEFAULT_FUDGE, 0, &[])))),
        (
            "wrong request MAC",
            Box::new(|m: &mut Vec<u8>, _: &[u8]| drop(tsig::sign_response(m, &key, &[0; 32], now(), DEFAULT_FUDGE, 0, &[]))),
        ),
        ("unsigned", Box::new(|_: &mut Vec<u8>, _: &[u8]| {})),
    ];
    for (what, sign) in bad {
        let (_, o) = udp_exchange(&tool, &args, |request, t| {
            let mut reply = soa_answer(request, 7);
            sign(&mut reply, &t.mac);
            Some(reply)
        });
        assert!(!accepted(&tool, &o, 7), "{} accepted an answer with a {what} TSIG:\n{}", tool.name, o.out);
    }
}

#[test]
fn dig_hmac_sha256() {
    udp_round_trip(dig(), Algorithm::HmacSha256);
}

#[test]
fn dig_hmac_sha1() {
    udp_round_trip(dig(), Algorithm::HmacSha1);
}

#[test]
fn dig_hmac_sha384() {
    udp_round_trip(dig(), Algorithm::HmacSha384);
}

#[test]
fn dig_hmac_sha512() {
    udp_round_trip(dig(), Algorithm::HmacSha512);
}

#[test]
fn kdig_hmac_sha256() {
    udp_round_trip(kdig(), Algorithm::HmacSha256);
}

#[test]
fn kdig_hmac_sha1() {
    udp_round_trip(kdig(), Algorithm::HmacSha1);
}

#[test]
fn kdig_hmac_sha512() {
    udp_round_trip(kdig(), Algorithm::HmacSha512);
}

/// The error answers of RFC 8945 §5.3.2 as the tools read them.
#[test]
fn dig_reads_our_error_answers() {
    let tool = dig();
    let key = key("testkey.", Algorithm::HmacSha256, SECRET_B64);
    let args = soa_query_args(&y_arg(Algorithm::HmacSha256, "testkey.", SECRET_B64), &tool);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for (code, name) in [(tsig::BADKEY, "BADKEY"), (tsig::BADSIG, "BADSIG"), (tsig::BADTIME, "BADTIME")] {
        let (_, o) = udp_exchange(&tool, &args, |request, t| {
            let mut reply = notauth(request);
            if code == tsig::BADTIME {
                tsig::sign_error_response(&mut reply, &key, t, now(), code);
            } else {
                tsig::append_unsigned_error(&mut reply, t, now(), code);
            }
            Some(reply)
        });
        // dig names the error after checking what can be checked: the signed BADTIME answer's
        // MAC ("clocks are unsynchronized" is dig's word for a verified BADTIME).
        let said = if code == tsig::BADTIME { "clocks are unsynchronized" } else { "tsig indicates error" };
        assert!(o.out.contains("NOTAUTH") && o.out.contains(name) && o.out.contains(said), "dig on our {name} answer:\n{}", o.out);
    }
    // A BADTIME answer with a bad MAC is a verification failure to dig, not a clock problem.
    let (_, o) = udp_exchange(&tool, &args, |request, t| {
        let mut reply = notauth(request);
        let wrong = Key { secret: secret(WRONG_SECRET_B64), ..key.clone() };
        tsig::sign_error_response(&mut reply, &wrong, t, now(), tsig::BADTIME);
        Some(reply)
    });
    assert!(o.out.contains("tsig verify failure") && !o.out.contains("unsynchronized"), "dig on a forged BADTIME:\n{}", o.out);
}

fn notauth(request: &[u8]) -> Vec<u8> {
    let mut reply = answer(request, &[]);
    reply[3] = (reply[3] & 0xF0) | tsig::RCODE_NOTAUTH as u8;
    reply
}

/// Runs `tool` for an AXFR of example.com over TCP against a listener of ours that answers in
/// several messages, each signed by [`StreamSigner`] (or mangled by `spoil`).
fn axfr_exchange(tool: &Tool, algorithm: Algorithm, messages: usize, spoil: Option<usize>) -> Outcome {
    let key = key("xfr.key.", algorithm, SECRET_B64);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
    let port = listener.local_addr().expect("addr").port().to_string();
    let y = y_arg(algorithm, "xfr.key.", SECRET_B64);
    let mut cmd = Command::new(&tool.path);
    cmd.args(["@127.0.0.1", "-p", &port, "-y", &y, "example.com", "AXFR"]);
    cmd.args(if tool.name == "dig" { ["+tries=1", "+time=5"] } else { ["+retry=0", "+time=5"] });
    let child = Running::spawn(tool.name, cmd);
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + DEADLINE;
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("{} did not connect: {e}", tool.name),
        }
    };
    stream.set_nonblocking(false).expect("blocking");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("request length");
    let mut request = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut request).expect("request");
    let t = tsig::find(&request).expect("request parses").expect("signed AXFR request");
    let mac = tsig::verify_request(&request, &t, Some(&key), now()).expect("AXFR request verifies");
    let mut signer = StreamSigner::new(key, mac.mac);
    let soa = (n("example.com."), rtype::SOA, soa_rdata(5));
    for i in 0..messages {
        let mut records = Vec::new();
        if i == 0 {
            records.push(soa.clone());
        }
        for j in 0..200 {
            let txt = format!("message {i} record {j}");
            let mut rdata = vec![txt.len() as u8];
            rdata.extend_from_slice(txt.as_bytes());
            records.push((n(&format!("r{j}.m{i}.example.com.")), rtype::TXT, rdata));
        }
        if i + 1 == messages {
            records.push(soa.clone());
        }
        let mut m = answer(&request, &records);
        signer.sign(&mut m, now(), DEFAULT_FUDGE);
        if spoil == Some(i) {
            // The MAC's last byte: original ID, error and other length (6 bytes) follow it.
            let at = m.len() - 7;
            m[at] ^= 0x01;
        }
        let framed = [&(m.len() as u16).to_be_bytes()[..], &m].concat();
        if let Err(e) = stream.write_all(&framed) {
            // A client that found a bad MAC may hang up before the rest arrives.
            assert!(spoil.is_some_and(|s| s < i), "{} closed the connection: {e}", tool.name);
            break;
        }
    }
    let (status, out) = child.wait_output(DEADLINE);
    Outcome { ok: status.success(), out }
}

fn axfr_round_trip(tool: Tool) {
    for algorithm in [Algorithm::HmacSha256, Algorithm::HmacSha1, Algorithm::HmacSha512] {
        let o = axfr_exchange(&tool, algorithm, 4, None);
        let records = 4 * 200 + 2;
        let size = match tool.name {
            "dig" => format!("XFR size: {records} records (messages 4"),
            _ => format!("(4 messages, {records} records)"),
        };
        assert!(o.ok && o.out.contains(&size) && !rejected_tsig(&tool, &o.out), "{} on our {algorithm} AXFR:\n{}", tool.name, tail(&o.out));
        // kdig (Knot 3.2) checks only the first message of a transfer; dig checks each one.
        let spoiled: &[usize] = if tool.name == "dig" { &[0, 2, 3] } else { &[0] };
        for &spoil in spoiled {
            let o = axfr_exchange(&tool, algorithm, 4, Some(spoil));
            assert!(rejected_tsig(&tool, &o.out), "{} accepted an AXFR whose message {spoil} has a bad MAC:\n{}", tool.name, tail(&o.out));
        }
    }
}

fn tail(out: &str) -> String {
    let lines: Vec<&str> = out.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[test]
fn dig_axfr_stream() {
    axfr_round_trip(dig());
}

#[test]
fn kdig_axfr_stream() {
    axfr_round_trip(kdig());
}
