//! The transfer client of a secondary: SOA query (UDP, TCP when truncated), IXFR (RFC 1995) and
//! AXFR (RFC 5936) over TCP, TSIG on all of them (RFC 8945), asking for geo variants with the
//! private EDNS option so an lmdns primary sends them (`lmdb_schema::geo_rr`). Records are
//! handed to a [`Sink`] as they arrive, so a large zone is never held twice; applying them is
//! `apply`'s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use lmdb_schema::{geo_rr, rtype};
use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Key, StreamVerifier, DEFAULT_FUDGE};
use lmdns_proto::wire::{self, Record};

use super::now;

/// How long one read or write of an exchange with a primary may take.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long the SOA query waits for each of its two tries.
const SOA_WAIT: Duration = Duration::from_secs(2);

/// What kind of answer a transfer turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// One SOA: our copy is current.
    UpToDate,
    /// The whole zone (an AXFR, or an AXFR-style IXFR answer).
    Full,
    /// RFC 1995 difference sequences: `old SOA, removed..., new SOA, added...` each.
    Incremental,
}

impl Style {
    pub fn name(self) -> &'static str {
        match self {
            Style::UpToDate => "up to date",
            Style::Full => "AXFR",
            Style::Incremental => "IXFR",
        }
    }
}

/// Takes a transfer's records as they arrive.
pub trait Sink {
    /// The transfer is of `style`; `soa` is its opening SOA (the zone's new SOA). Called again
    /// if the client falls back from IXFR to AXFR: start over.
    fn begin(&mut self, style: Style, soa: &Record) -> Result<(), String>;
    /// Each record between the opening SOA and the closing one, in order.
    fn record(&mut self, record: Record) -> Result<(), String>;
}

/// How a transfer went.
#[derive(Clone, Copy, Debug)]
pub struct Received {
    pub style: Style,
    /// The primary's serial.
    pub serial: u32,
    /// Bytes of DNS messages received (with their TCP length prefixes).
    pub bytes: u64,
}

fn query(zone: &[u8], qtype: u16, our_soa: Option<&[u8]>) -> Vec<u8> {
    let id = (now() as u16) ^ (std::process::id() as u16).rotate_left(7) ^ qtype ^ (zone.len() as u16).rotate_left(3);
    let mut m = MessageBuilder::new(id, 0);
    // Names we hold are valid; a message of one question and one SOA always fits.
    let _ = m.question(zone, qtype, 1);
    if let Some(soa) = our_soa {
        let _ = m.record(Section::Authority, zone, rtype::SOA, 1, 0, soa);
    }
    // EDNS with the geo-variants option: lmdns primaries add variants and the policy; others
    // ignore an option they do not know (RFC 6891 §6.1.2).
    let mut option = geo_rr::EDNS_OPTION.to_be_bytes().to_vec();
    option.extend_from_slice(&[0, 0]);
    let _ = m.record(Section::Additional, &[0], rtype::OPT, 1232, 0, &option);
    m.finish()
}

fn sign(message: &mut Vec<u8>, key: Option<&Key>) -> Option<Vec<u8>> {
    key.map(|k| tsig::sign_request(message, k, now(), DEFAULT_FUDGE))
}

/// Checks one answer's header (and, for a single signed answer, its TSIG); returns it parsed.
fn check(reply: &[u8], request: &[u8], key: Option<&Key>, mac: Option<&[u8]>) -> Result<wire::Message, String> {
    let parsed = wire::parse(reply).map_err(|e| format!("malformed answer: {e}"))?;
    if reply[..2] != request[..2] || !parsed.header.qr() {
        return Err("an answer to another query".into());
    }
    let rcode = parsed.header.rcode();
    if rcode == 9 {
        return Err(match tsig::find(reply).ok().flatten() {
            Some(t) if t.error != 0 => format!("NOTAUTH (TSIG {})", tsig::error_name(t.error)),
            _ => "NOTAUTH".into(),
        });
    }
    if let (Some(key), Some(mac)) = (key, mac) {
        tsig::verify_response(reply, key, mac, now()).map_err(|f| format!("TSIG of the answer: {}", tsig::error_name(f.error)))?;
    }
    match rcode {
        0 => Ok(parsed),
        code => Err(format!("rcode {}", crate::update::process::rcode::name(code))),
    }
}

/// The primary's SOA serial for `zone`, asked over UDP (again over TCP when truncated).
pub fn soa_serial(primary: SocketAddr, zone: &[u8], key: Option<&Key>) -> Result<u32, String> {
    let mut message = query(zone, rtype::SOA, None);
    let mac = sign(&mut message, key);
    let local: SocketAddr =
        if primary.is_ipv4() { (std::net::Ipv4Addr::UNSPECIFIED, 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(SOA_WAIT)).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 65_535];
    for _ in 0..2 {
        socket.send_to(&message, primary).map_err(|e| format!("sending the SOA query: {e}"))?;
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        let reply = &buf[..n];
        if from != primary || reply.len() < 12 || reply[..2] != message[..2] {
            continue;
        }
        let parsed = if reply[2] & 0x02 != 0 {
            // Truncated: ask again over TCP.
            let mut answers = Vec::new();
            tcp_exchange(primary, &message, key, mac.as_deref(), |m| {
                answers.extend(m.answers);
                Ok(true)
            })?;
            return wire::first_soa_serial(&answers).ok_or_else(|| "no SOA in the answer".into());
        } else {
            check(reply, &message, key, mac.as_deref())?
        };
        return parsed.answers.iter().find_map(|r| r.soa_serial()).ok_or_else(|| "no SOA in the answer".into());
    }
    Err("the SOA query was not answered".into())
}

/// Sends `message` over TCP and hands each answer to `each` until it says the last came (the
/// answers' TSIG checked as a stream: RFC 8945 §5.3.1). Returns the bytes received.
fn tcp_exchange(
    primary: SocketAddr,
    message: &[u8],
    key: Option<&Key>,
    mac: Option<&[u8]>,
    mut each: impl FnMut(wire::Message) -> Result<bool, String>,
) -> Result<u64, String> {
    let mut stream = TcpStream::connect_timeout(&primary, TIMEOUT).map_err(|e| format!("connecting: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut framed = (message.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(message);
    stream.write_all(&framed).map_err(|e| format!("sending the request: {e}"))?;
    let mut verifier = key.zip(mac).map(|(k, m)| StreamVerifier::new(k.clone(), m.to_vec()));
    let mut bytes = 0u64;
    let mut reply = Vec::new();
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).map_err(|e| format!("reading the answer: {e}"))?;
        reply.resize(u16::from_be_bytes(len) as usize, 0);
        stream.read_exact(&mut reply).map_err(|e| format!("reading the answer: {e}"))?;
        bytes += reply.len() as u64 + 2;
        let parsed = check(&reply, message, None, None)?;
        if let Some(v) = verifier.as_mut() {
            v.verify(&reply, now()).map_err(|f| format!("TSIG of the answer: {}", tsig::error_name(f.error)))?;
        }
        if each(parsed)? {
            break;
        }
    }
    if let Some(v) = verifier {
        v.finish().map_err(|f| format!("TSIG of the answer: {}", tsig::error_name(f.error)))?;
    }
    Ok(bytes)
}

/// Transfers `zone` from `primary` into `sink`: IXFR from `ours` (our SOA RDATA) when we have a
/// copy, else AXFR; an IXFR the primary refuses or does not implement falls back to AXFR.
pub fn fetch(primary: SocketAddr, zone: &[u8], ours: Option<&[u8]>, key: Option<&Key>, sink: &mut dyn Sink) -> Result<Received, String> {
    if let Some(soa) = ours {
        match transfer(primary, zone, rtype::IXFR, Some(soa), key, sink) {
            Ok(result) => return Ok(result),
            Err(e) if ["rcode NOTIMP", "rcode FORMERR", "rcode REFUSED"].iter().any(|c| e.starts_with(c)) => {
                tracing::debug!(zone = %lmdb_schema::name::wire_to_text(zone), %primary, "IXFR not served ({e}); AXFR");
            }
            Err(e) => return Err(e),
        }
    }
    transfer(primary, zone, rtype::AXFR, None, key, sink)
}

/// One AXFR or IXFR. The end is told by SOAs: an AXFR (or AXFR-style IXFR) ends at the second
/// SOA, an incremental IXFR at the SOA of the new serial seen the third time (opening, last
/// sequence, closing), and a lone SOA answering an IXFR says we are current.
fn transfer(
    primary: SocketAddr,
    zone: &[u8],
    qtype: u16,
    ours: Option<&[u8]>,
    key: Option<&Key>,
    sink: &mut dyn Sink,
) -> Result<Received, String> {
    let mut message = query(zone, qtype, ours);
    let mac = sign(&mut message, key);
    let mut opening: Option<Record> = None;
    let mut style = None;
    // The record seen last: held back so that the closing SOA is never handed on.
    let mut held: Option<Record> = None;
    let mut new_serial_soas = 0;
    let mut done = false;
    let bytes = tcp_exchange(primary, &message, key, mac.as_deref(), |m| {
        for r in m.answers {
            if done {
                return Err("records after the closing SOA".into());
            }
            let Some(first) = &opening else {
                if r.rtype != rtype::SOA || !r.owner.eq_ignore_ascii_case(zone) {
                    return Err("the answer does not start with the zone's SOA".into());
                }
                new_serial_soas = 1;
                opening = Some(r);
                continue;
            };
            let serial = first.soa_serial();
            let this_style = match style {
                Some(s) => s,
                None => {
                    // The second record tells the kind: an SOA (the old one) starts sequences.
                    let s = if qtype == rtype::IXFR && r.rtype == rtype::SOA && r.soa_serial() != serial {
                        Style::Incremental
                    } else {
                        Style::Full
                    };
                    sink.begin(s, first)?;
                    style = Some(s);
                    s
                }
            };
            if r.rtype == rtype::SOA && r.soa_serial() == serial && r.owner.eq_ignore_ascii_case(zone) {
                new_serial_soas += 1;
                done = match this_style {
                    Style::Full => true,
                    _ => new_serial_soas == 3,
                };
            }
            if let Some(previous) = held.replace(r) {
                sink.record(previous)?;
            }
        }
        // An IXFR answered with the lone SOA (all of it in the first message): we are current.
        Ok(done || (qtype == rtype::IXFR && opening.is_some() && style.is_none()))
    })?;
    let opening = opening.ok_or("the answer does not start with the zone's SOA")?;
    let serial = opening.soa_serial().ok_or("the zone's SOA does not frame")?;
    let style = match style {
        Some(s) => s,
        None => {
            sink.begin(Style::UpToDate, &opening)?;
            Style::UpToDate
        }
    };
    Ok(Received { style, serial, bytes })
}
