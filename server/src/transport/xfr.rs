//! Transfer threads: the TCP loop hands a connection whose next query is an AXFR or IXFR (or
//! an UPDATE, which waits for the writer's commit) to one of these, so a transfer of any size
//! never stalls the loop's other connections.
//!
//! Each thread takes handed-over connections from a bounded queue and serves them in blocking
//! mode: the transfer (one read transaction for all of it: a consistent snapshot however long
//! it takes), then whatever the client sends next on that connection (more transfers, or
//! queries, answered like the TCP loop answers them), until the client closes it or stays idle.
//! At most `--max-transfers` run at once; as many more wait in the queue; beyond that the TCP
//! loop answers SERVFAIL itself.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::answer::transfer::{self, Prepared};
use crate::engine::{Client, Engine, Transport};
use crate::ops::replication::ReplicationStats;
use crate::query;
use crate::server::Stop;

/// A connection taken over from the TCP loop, with what it had read and not answered yet.
pub struct Handoff {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub input: Vec<u8>,
}

/// How long a write may block before the client is considered gone (a secondary that stops
/// reading mid-transfer must not hold a thread and a snapshot for ever).
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(200);

/// The queue the TCP loop hands connections to, and the receiving side for the threads.
pub fn queue(max_transfers: usize) -> (Sender<Handoff>, Receiver<Handoff>) {
    crossbeam_channel::bounded(max_transfers)
}

/// Runs one transfer thread until `stop`.
pub fn serve(engine: &Engine, db: &Path, handoffs: Receiver<Handoff>, idle_timeout: Duration, stats: Arc<ReplicationStats>, stop: &Stop) {
    while !stop.requested() {
        crossbeam_channel::select! {
            recv(handoffs) -> conn => match conn {
                Ok(conn) => serve_connection(engine, db, conn, idle_timeout, &stats),
                Err(_) => return,
            },
            recv(stop.signal()) -> _ => return,
            default(STOP_CHECK) => {}
        }
    }
}

fn serve_connection(engine: &Engine, db: &Path, conn: Handoff, idle_timeout: Duration, stats: &ReplicationStats) {
    let Handoff { mut stream, peer, mut input } = conn;
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(idle_timeout)).is_err()
        || stream.set_write_timeout(Some(WRITE_TIMEOUT)).is_err()
    {
        return;
    }
    let mut scratch = engine.scratch();
    let mut answer = Vec::new();
    let mut writer = super::update::Link::new(db);
    let mut read_buf = vec![0u8; 4096];
    loop {
        while let Some(len) = frame_len(&input).filter(|&len| input.len() >= 2 + len) {
            let frame: Vec<u8> = input[2..2 + len].to_vec();
            input.drain(..2 + len);
            let served = if query::is_transfer(&frame) {
                send_transfer(engine, &mut stream, peer, &frame, stats)
            } else if super::update::is_for_writer(&frame) && engine.config().allow_query.allows(peer.ip()) {
                let reply = writer.forward(peer, &frame);
                reply.is_empty() || write_frame(&mut stream, &reply).is_ok()
            } else {
                let Ok(txn) = engine.read_txn() else { return };
                let client = Client { addr: peer, transport: Transport::Tcp };
                let reply = engine.answer(&txn, &mut scratch, &frame, &client, &mut answer);
                drop(txn);
                !reply || answer.is_empty() || write_frame(&mut stream, &answer).is_ok()
            };
            if !served {
                return;
            }
        }
        match stream.read(&mut read_buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => input.extend_from_slice(&read_buf[..n]),
        }
        if input.len() > 2 + 65_535 + read_buf.len() {
            return;
        }
    }
}

/// Answers one transfer request; false when the connection is no longer usable.
fn send_transfer(engine: &Engine, stream: &mut TcpStream, peer: SocketAddr, request: &[u8], stats: &ReplicationStats) -> bool {
    let Ok(txn) = engine.read_txn() else { return false };
    let started = Instant::now();
    match transfer::prepare(engine.store(), &txn, engine.config(), request, peer.ip()) {
        Prepared::Answer(bytes) => {
            if bytes.is_empty() {
                return true;
            }
            stats.transfer_refused();
            let rcode = bytes.get(3).map_or(0, |b| b & 0x0F);
            tracing::info!(client = %peer, rcode, "transfer request refused");
            write_frame(stream, &bytes).is_ok()
        }
        Prepared::Transfer(mut xfr) => {
            stats.transfer_started();
            let (mut messages, mut bytes) = (0u64, 0u64);
            let mut message = Vec::with_capacity(65_536);
            let result = loop {
                match xfr.next(&mut message) {
                    Ok(true) => {
                        if let Err(e) = write_frame(stream, &message) {
                            break Err(format!("client stopped reading: {e}"));
                        }
                        messages += 1;
                        bytes += message.len() as u64 + 2;
                    }
                    Ok(false) => break Ok(()),
                    Err(_) => break Err("database error while reading the zone".to_string()),
                }
            };
            let info = &xfr.info;
            stats.transfer_ended(info.kind, result.is_ok(), bytes);
            let key = info.key.as_deref().unwrap_or("-");
            let ms = started.elapsed().as_secs_f64() * 1e3;
            match &result {
                Ok(()) => {
                    tracing::info!(zone = %info.zone, kind = info.kind, serial = info.serial, client = %peer, key, messages, bytes, ms, "transfer sent")
                }
                Err(e) => {
                    tracing::warn!(zone = %info.zone, kind = info.kind, serial = info.serial, client = %peer, key, messages, bytes, "transfer failed: {e}")
                }
            }
            result.is_ok()
        }
    }
}

fn frame_len(buf: &[u8]) -> Option<usize> {
    (buf.len() >= 2).then(|| u16::from_be_bytes([buf[0], buf[1]]) as usize)
}

/// Writes one message with its 2-byte length in a single write.
fn write_frame(stream: &mut TcpStream, message: &[u8]) -> io::Result<()> {
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed)
}
