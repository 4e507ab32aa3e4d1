//! dnstap (`--dnstap unix:PATH` or `--dnstap file:PATH`): every answered query as an
//! AUTH_QUERY and an AUTH_RESPONSE message (protobuf `dnstap.Dnstap`, encoded with prost) in
//! Frame Streams, as Knot, NSD, BIND and Unbound emit them.
//!
//! Hot path: like the query log, each worker owns the producer of a fixed-capacity ring
//! ([`super::ring`]) and a push copies the query and the response into a preallocated slot: no
//! allocation, no lock, no system call, and a full ring drops and counts
//! (`lmdns_dnstap_dropped_total`, which also counts messages larger than a slot holds:
//! [`QUERY_MAX`], [`RESPONSE_MAX`], and events lost while a socket reader is away). One writer
//! thread drains the rings, encodes and writes the frames.
//!
//! Frame Streams: `file:` is the unidirectional form (START with the content type
//! `protobuf:dnstap.Dnstap`, data frames, STOP on shutdown), readable by `dnstap-ldns -r` or
//! `dnstap-read`; `unix:` is the bidirectional handshake (READY, the reader's ACCEPT, START ...
//! STOP, the reader's FINISH) of `fstrm_capture`, Knot's and BIND's collectors. A reader that is
//! not there yet, or goes away, is retried every [`RECONNECT_INTERVAL`].
//!
//! Both messages carry the time the answer was sent as their query time (the response also as
//! its response time), the client's address and port, UDP or TCP; the server's own address is
//! left out (workers may answer on a wildcard address).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use prost::Message as _;

use super::ring;
use crate::engine::{Client, Transport};
use crate::server::{RateLimit, Stop};

/// Largest query queued (larger ones are counted as dropped).
pub const QUERY_MAX: usize = 512;
/// Largest response queued (larger ones, TCP answers past 4 KiB, are counted as dropped).
pub const RESPONSE_MAX: usize = 4096;
/// Events per worker queue: about 4.6 KiB each, 4.7 MiB per worker, only when dnstap is on.
pub const QUEUE_CAPACITY: usize = 1024;
/// How often a missing socket reader is tried again.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// After a stop request, how long the writer waits for a socket reader's FINISH.
const FINISH_GRACE: Duration = ring::STOP_GRACE;

pub const CONTENT_TYPE: &[u8] = b"protobuf:dnstap.Dnstap";

/// Where the frames go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Unix(PathBuf),
    File(PathBuf),
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        match s.split_once(':') {
            Some(("unix", path)) if !path.is_empty() => Ok(Target::Unix(path.into())),
            Some(("file", path)) if !path.is_empty() => Ok(Target::File(path.into())),
            _ => Err(format!("{s:?}: expected unix:PATH (a Frame Streams socket) or file:PATH")),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// One answered query, plain data of a fixed size.
#[derive(Clone, Copy)]
pub struct Event {
    time_sec: u64,
    time_nsec: u32,
    client: [u8; 16],
    client_v6: bool,
    port: u16,
    tcp: bool,
    query_len: u16,
    response_len: u16,
    query: [u8; QUERY_MAX],
    response: [u8; RESPONSE_MAX],
}

impl Event {
    const EMPTY: Event = Event {
        time_sec: 0,
        time_nsec: 0,
        client: [0; 16],
        client_v6: false,
        port: 0,
        tcp: false,
        query_len: 0,
        response_len: 0,
        query: [0; QUERY_MAX],
        response: [0; RESPONSE_MAX],
    };
}

pub type Producer = ring::Producer<Event>;

/// Events dropped, for metrics: queues full, messages too large, no reader connected.
#[derive(Clone)]
pub struct DnstapStats {
    queues: ring::DropCounts<Event>,
    lost: Arc<AtomicU64>,
}

impl DnstapStats {
    pub fn dropped(&self) -> u64 {
        self.queues.dropped() + self.lost.load(Ordering::Relaxed)
    }
}

impl ring::Producer<Event> {
    /// Queues the query and the response sent for it, or drops and counts them.
    #[inline]
    pub fn tap(&mut self, query: &[u8], response: &[u8], client: &Client) -> bool {
        if query.len() > QUERY_MAX || response.len() > RESPONSE_MAX {
            self.count_drop();
            return false;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.push_with(|e| {
            e.time_sec = now.as_secs();
            e.time_nsec = now.subsec_nanos();
            (e.client, e.client_v6) = ring::pack_address(client.addr.ip());
            e.port = client.addr.port();
            e.tcp = client.transport == Transport::Tcp;
            e.query[..query.len()].copy_from_slice(query);
            e.query_len = query.len() as u16;
            e.response[..response.len()].copy_from_slice(response);
            e.response_len = response.len() as u16;
        })
    }
}

/// The dnstap.proto messages lmdns sends (field numbers from dnstap.proto).
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dnstap {
        #[prost(bytes = "vec", optional, tag = "1")]
        pub identity: Option<Vec<u8>>,
        #[prost(bytes = "vec", optional, tag = "2")]
        pub version: Option<Vec<u8>>,
        #[prost(message, optional, tag = "14")]
        pub message: Option<Message>,
        #[prost(enumeration = "DnstapType", required, tag = "15")]
        pub r#type: i32,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum DnstapType {
        Message = 1,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Message {
        #[prost(enumeration = "MessageType", required, tag = "1")]
        pub r#type: i32,
        #[prost(enumeration = "SocketFamily", optional, tag = "2")]
        pub socket_family: Option<i32>,
        #[prost(enumeration = "SocketProtocol", optional, tag = "3")]
        pub socket_protocol: Option<i32>,
        #[prost(bytes = "vec", optional, tag = "4")]
        pub query_address: Option<Vec<u8>>,
        #[prost(uint32, optional, tag = "6")]
        pub query_port: Option<u32>,
        #[prost(uint64, optional, tag = "8")]
        pub query_time_sec: Option<u64>,
        #[prost(fixed32, optional, tag = "9")]
        pub query_time_nsec: Option<u32>,
        #[prost(bytes = "vec", optional, tag = "10")]
        pub query_message: Option<Vec<u8>>,
        #[prost(uint64, optional, tag = "12")]
        pub response_time_sec: Option<u64>,
        #[prost(fixed32, optional, tag = "13")]
        pub response_time_nsec: Option<u32>,
        #[prost(bytes = "vec", optional, tag = "14")]
        pub response_message: Option<Vec<u8>>,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum MessageType {
        AuthQuery = 1,
        AuthResponse = 2,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SocketFamily {
        Inet = 1,
        Inet6 = 2,
    }

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum SocketProtocol {
        Udp = 1,
        Tcp = 2,
    }
}

/// Frame Streams control frame types.
const CONTROL_ACCEPT: u32 = 1;
const CONTROL_START: u32 = 2;
const CONTROL_STOP: u32 = 3;
const CONTROL_READY: u32 = 4;
const CONTROL_FINISH: u32 = 5;
const FIELD_CONTENT_TYPE: u32 = 1;

/// A control frame: the escape (a zero length), its length, its type and fields.
fn control_frame(kind: u32, content_type: bool) -> Vec<u8> {
    let mut body = kind.to_be_bytes().to_vec();
    if content_type {
        body.extend_from_slice(&FIELD_CONTENT_TYPE.to_be_bytes());
        body.extend_from_slice(&(CONTENT_TYPE.len() as u32).to_be_bytes());
        body.extend_from_slice(CONTENT_TYPE);
    }
    let mut frame = 0u32.to_be_bytes().to_vec();
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    frame
}

/// Reads one control frame (bounded to 512 bytes) and returns its type.
fn read_control(stream: &mut UnixStream) -> io::Result<u32> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head)?;
    let escape = u32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
    let len = u32::from_be_bytes(head[4..].try_into().expect("4 bytes")) as usize;
    if escape != 0 || !(4..=512).contains(&len) {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "not a Frame Streams control frame"));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(u32::from_be_bytes(body[..4].try_into().expect("4 bytes")))
}

enum Sink {
    File(BufWriter<File>),
    /// Connected and started, or away (retried at the instant held).
    Unix {
        path: PathBuf,
        stream: Option<BufWriter<UnixStream>>,
        retry_at: Instant,
    },
}

/// The writer: the consumers of every worker's queue and the output.
pub struct DnstapWriter {
    consumers: Vec<ring::Consumer<Event>>,
    sink: Sink,
    stats: DnstapStats,
    identity: Option<Vec<u8>>,
    version: Vec<u8>,
    frame: Vec<u8>,
    errors: RateLimit,
}

impl DnstapWriter {
    /// Opens `target` (a file is created or truncated now; a socket is connected by the writer
    /// thread, and retried) with one queue per worker. `identity` goes in every message.
    pub fn open(target: &Target, identity: Option<&str>, workers: usize) -> anyhow::Result<(DnstapWriter, Vec<Producer>)> {
        let sink = match target {
            Target::File(path) => {
                let file = File::create(path).with_context(|| format!("cannot create the dnstap file {}", path.display()))?;
                let mut out = BufWriter::with_capacity(64 * 1024, file);
                out.write_all(&control_frame(CONTROL_START, true)).with_context(|| format!("cannot write {}", path.display()))?;
                Sink::File(out)
            }
            Target::Unix(path) => Sink::Unix { path: path.clone(), stream: None, retry_at: Instant::now() },
        };
        let (producers, consumers, queues) = ring::queues(workers, QUEUE_CAPACITY, Event::EMPTY);
        let stats = DnstapStats { queues, lost: Arc::default() };
        let writer = DnstapWriter {
            consumers,
            sink,
            stats,
            identity: identity.map(|i| i.as_bytes().to_vec()),
            version: format!("lmdns {}", env!("CARGO_PKG_VERSION")).into_bytes(),
            frame: Vec::with_capacity(2 * (QUERY_MAX + RESPONSE_MAX)),
            errors: RateLimit::new(),
        };
        Ok((writer, producers))
    }

    pub fn stats(&self) -> DnstapStats {
        self.stats.clone()
    }

    /// Runs until `stop` is requested and every producer is gone (or a grace period passed),
    /// then writes out what is left and ends the stream.
    pub fn run(mut self, stop: &Stop) -> anyhow::Result<()> {
        ring::drain_until_stopped(&mut self, stop);
        Ok(())
    }

    /// Connects to a socket reader that is away, when its retry is due: READY, ACCEPT, START.
    fn connect_if_due(&mut self) {
        let Sink::Unix { path, stream, retry_at } = &mut self.sink else { return };
        if stream.is_some() || Instant::now() < *retry_at {
            return;
        }
        *retry_at = Instant::now() + RECONNECT_INTERVAL;
        match handshake(path) {
            Ok(s) => {
                tracing::info!("dnstap: connected to {}", path.display());
                *stream = Some(BufWriter::with_capacity(64 * 1024, s));
            }
            Err(e) => {
                if self.errors.allow() {
                    tracing::warn!("dnstap: cannot connect to {}: {e}; retrying every {RECONNECT_INTERVAL:?}", path.display());
                }
            }
        }
    }

    /// Drops the connection to a socket reader after a write failed; it is retried later.
    fn disconnect(sink: &mut Sink) {
        if let Sink::Unix { stream, retry_at, .. } = sink {
            *stream = None;
            *retry_at = Instant::now() + RECONNECT_INTERVAL;
        }
    }
}

impl ring::Drain for DnstapWriter {
    fn producers_gone(&self) -> bool {
        self.consumers.iter().all(ring::Consumer::is_closed)
    }

    fn maintain(&mut self) {
        self.connect_if_due();
    }

    /// Encodes and writes what every queue holds (at most one ring's worth each).
    fn drain_all(&mut self) -> usize {
        let DnstapWriter { consumers, sink, identity, version, frame, errors, stats, .. } = self;
        let mut total = 0;
        for c in consumers.iter_mut() {
            let max = c.capacity();
            total += c.drain(max, |event| {
                let out: &mut dyn Write = match sink {
                    Sink::File(out) => out,
                    Sink::Unix { stream: Some(out), .. } => out,
                    Sink::Unix { stream: None, .. } => {
                        stats.lost.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
                frame.clear();
                for kind in [proto::MessageType::AuthQuery, proto::MessageType::AuthResponse] {
                    let message = encode(event, kind, identity.as_deref(), version);
                    frame.extend_from_slice(&(message.encoded_len() as u32).to_be_bytes());
                    message.encode(frame).expect("a Vec grows as needed");
                }
                if let Err(e) = out.write_all(frame) {
                    if errors.allow() {
                        tracing::error!("dnstap: cannot write: {e}");
                    }
                    Self::disconnect(sink);
                }
            });
        }
        total
    }

    fn flush(&mut self) {
        let result = match &mut self.sink {
            Sink::File(out) => out.flush(),
            Sink::Unix { stream: Some(out), .. } => out.flush(),
            Sink::Unix { stream: None, .. } => Ok(()),
        };
        if let Err(e) = result {
            if self.errors.allow() {
                tracing::error!("dnstap: cannot write: {e}");
            }
            Self::disconnect(&mut self.sink);
        }
    }

    /// STOP, and on a socket the reader's FINISH (bounded).
    fn finish(&mut self) {
        let stop = control_frame(CONTROL_STOP, false);
        match &mut self.sink {
            Sink::File(out) => {
                let _ = out.write_all(&stop).and_then(|_| out.flush());
            }
            Sink::Unix { stream: Some(out), .. } => {
                if out.write_all(&stop).and_then(|_| out.flush()).is_ok() {
                    let s = out.get_mut();
                    let _ = s.set_read_timeout(Some(FINISH_GRACE));
                    match read_control(s) {
                        Ok(CONTROL_FINISH) => {}
                        Ok(other) => tracing::debug!("dnstap: the reader answered STOP with control frame {other}, not FINISH"),
                        Err(e) => tracing::debug!("dnstap: no FINISH from the reader: {e}"),
                    }
                }
            }
            Sink::Unix { stream: None, .. } => {}
        }
        let lost = self.stats.lost.load(Ordering::Relaxed);
        if lost > 0 {
            tracing::warn!("dnstap: {lost} events were dropped while no reader was connected");
        }
    }
}

/// The bidirectional Frame Streams handshake on a fresh connection to `path`.
fn handshake(path: &Path) -> io::Result<UnixStream> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(2)))?;
    s.write_all(&control_frame(CONTROL_READY, true))?;
    if read_control(&mut s)? != CONTROL_ACCEPT {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "the reader did not ACCEPT"));
    }
    s.write_all(&control_frame(CONTROL_START, true))?;
    s.set_read_timeout(None)?;
    Ok(s)
}

/// The dnstap message of one side of `event`.
fn encode(event: &Event, kind: proto::MessageType, identity: Option<&[u8]>, version: &[u8]) -> proto::Dnstap {
    let response = kind == proto::MessageType::AuthResponse;
    let address = if event.client_v6 { event.client.to_vec() } else { event.client[..4].to_vec() };
    let family = if event.client_v6 { proto::SocketFamily::Inet6 } else { proto::SocketFamily::Inet };
    let protocol = if event.tcp { proto::SocketProtocol::Tcp } else { proto::SocketProtocol::Udp };
    let message = proto::Message {
        r#type: kind as i32,
        socket_family: Some(family as i32),
        socket_protocol: Some(protocol as i32),
        query_address: Some(address),
        query_port: Some(event.port.into()),
        query_time_sec: Some(event.time_sec),
        query_time_nsec: Some(event.time_nsec),
        query_message: (!response).then(|| event.query[..event.query_len as usize].to_vec()),
        response_time_sec: response.then_some(event.time_sec),
        response_time_nsec: response.then_some(event.time_nsec),
        response_message: response.then(|| event.response[..event.response_len as usize].to_vec()),
    };
    proto::Dnstap {
        identity: identity.map(<[u8]>::to_vec),
        version: Some(version.to_vec()),
        message: Some(message),
        r#type: proto::DnstapType::Message as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        assert_eq!("unix:/run/dnstap.sock".parse(), Ok(Target::Unix("/run/dnstap.sock".into())));
        assert_eq!("file:/tmp/x.fstrm".parse::<Target>().unwrap().to_string(), "file:/tmp/x.fstrm");
        for bad in ["", "unix:", "tcp:1.2.3.4:6000", "/tmp/x"] {
            assert!(bad.parse::<Target>().is_err(), "{bad}");
        }
    }

    #[test]
    fn control_frames_follow_frame_streams() {
        let start = control_frame(CONTROL_START, true);
        assert_eq!(&start[..4], &[0, 0, 0, 0], "the escape");
        assert_eq!(u32::from_be_bytes(start[4..8].try_into().unwrap()) as usize, start.len() - 8);
        assert_eq!(&start[8..12], &CONTROL_START.to_be_bytes());
        assert_eq!(&start[start.len() - CONTENT_TYPE.len()..], CONTENT_TYPE);
        assert_eq!(control_frame(CONTROL_STOP, false), [0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3]);
    }

    #[test]
    fn oversized_messages_are_counted_not_queued() {
        let (mut producers, mut consumers, stats) = ring::queues(1, 4, Event::EMPTY);
        let client = Client { addr: "192.0.2.1:5300".parse().unwrap(), transport: Transport::Udp };
        assert!(producers[0].tap(b"query", b"response", &client));
        assert!(!producers[0].tap(&[0; QUERY_MAX + 1], b"r", &client));
        assert!(!producers[0].tap(b"q", &[0; RESPONSE_MAX + 1], &client));
        assert_eq!(stats.dropped(), 2);
        let mut seen = Vec::new();
        consumers[0].drain(4, |e| {
            let d = encode(e, proto::MessageType::AuthResponse, Some(b"ns1"), b"lmdns");
            seen.push(d.clone());
            let bytes = d.encode_to_vec();
            assert_eq!(proto::Dnstap::decode(bytes.as_slice()).unwrap(), d);
        });
        assert_eq!(seen.len(), 1);
        let m = seen[0].message.as_ref().unwrap();
        assert_eq!(m.response_message.as_deref(), Some(&b"response"[..]));
        assert_eq!(m.query_message, None);
        assert_eq!((m.query_address.as_deref(), m.query_port), (Some(&[192, 0, 2, 1][..]), Some(5300)));
    }
}
