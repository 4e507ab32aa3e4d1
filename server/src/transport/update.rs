//! DNS UPDATE relay: the server never writes the database; an UPDATE it receives goes to the
//! writer (`lmdns-loader serve`) over the local socket in the database directory
//! (`lmdns_proto::writer_link`), and the writer's reply goes back to the client. With no writer
//! running, the server answers REFUSED itself.
//!
//! Over UDP a worker must not wait for a commit, so it queues the UPDATE (with a handle on its
//! socket and the address the query came to) for a few relay threads, which forward it and send
//! the reply from the same socket and address. Over TCP the connection is handed to a transfer
//! thread (`xfr`), which forwards in line.

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use lmdns_proto::writer_link;
use socket2::Socket;

use crate::answer::writer::{Writer, RCODE_REFUSED};
use crate::query::{self, QueryName};
use crate::server::Stop;

/// OPCODE of DNS UPDATE (RFC 2136).
pub const OPCODE_UPDATE: u8 = 5;
/// How long the writer may take to commit and answer one UPDATE.
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);
/// Relay threads: UPDATEs relayed at once over UDP (the writer commits them together).
pub const RELAY_THREADS: usize = 8;

/// True for an UPDATE message (a query with OPCODE 5).
#[inline]
pub fn is_update(packet: &[u8]) -> bool {
    packet.len() >= 12 && packet[2] & 0x80 == 0 && (packet[2] >> 3) & 0x0F == OPCODE_UPDATE
}

/// Forwards one UPDATE from `client` to the writer of the database at `db` and returns its
/// reply; REFUSED when no writer answers on the socket.
pub fn forward(db: &Path, client: SocketAddr, message: &[u8]) -> Vec<u8> {
    match exchange(&writer_link::socket_path(db), client, message) {
        Ok(reply) => reply,
        Err(e) => {
            tracing::debug!("no writer for an UPDATE ({e}): REFUSED");
            refused(message)
        }
    }
}

fn exchange(socket: &Path, client: SocketAddr, message: &[u8]) -> io::Result<Vec<u8>> {
    let mut link = UnixStream::connect(socket)?;
    link.set_read_timeout(Some(WRITER_TIMEOUT))?;
    link.set_write_timeout(Some(WRITER_TIMEOUT))?;
    writer_link::write_request(&mut link, client, message)?;
    writer_link::read_reply(&mut link)
}

/// REFUSED for `message`, with its zone section echoed (empty if it does not parse).
pub fn refused(message: &[u8]) -> Vec<u8> {
    let mut name = QueryName::default();
    let mut out = Vec::new();
    if let Ok(q) = query::parse(message, &mut name) {
        let mut w = Writer::start(&mut out, message, &q);
        w.finish(&q, RCODE_REFUSED as u16, false, false, None);
    }
    out
}

/// An UPDATE received over UDP, and how to reply from where it arrived.
pub struct UdpUpdate {
    pub message: Vec<u8>,
    pub client: SocketAddr,
    pub socket: Arc<Socket>,
    /// The source-address control message for the reply (see `udp`), possibly empty.
    pub control: Vec<u8>,
}

/// The queue UDP workers put UPDATEs on.
pub fn queue() -> (Sender<UdpUpdate>, Receiver<UdpUpdate>) {
    crossbeam_channel::bounded(1024)
}

/// Runs one relay thread until `stop`.
pub fn relay(db: PathBuf, updates: Receiver<UdpUpdate>, stop: &Stop) {
    while !stop.requested() {
        match updates.recv_timeout(Duration::from_millis(200)) {
            Ok(u) => {
                let reply = forward(&db, u.client, &u.message);
                if !reply.is_empty() {
                    if let Err(e) = super::udp::send_reply(&u.socket, u.client, &u.control, &reply) {
                        tracing::debug!(client = %u.client, "cannot send an UPDATE reply: {e}");
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
