//! DNS UPDATE and NOTIFY relay: the server never writes the database; an UPDATE or NOTIFY it
//! receives goes to the writer (`lmdns-loader serve`) over the local socket in the database
//! directory (`lmdns_proto::writer_link`), and the writer's reply goes back to the client. The
//! writer applies UPDATEs and refreshes secondary zones on NOTIFY (checking the sender and its
//! TSIG). With no writer running, the server answers itself: UPDATE REFUSED, NOTIFY NOTAUTH
//! (no zone is refreshed here without one).
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

use crate::answer::writer::{Writer, RCODE_NOTAUTH, RCODE_REFUSED};
use crate::query::{self, QueryName};
use crate::server::Stop;

/// OPCODE of DNS UPDATE (RFC 2136).
pub const OPCODE_UPDATE: u8 = 5;
/// OPCODE of NOTIFY (RFC 1996).
pub const OPCODE_NOTIFY: u8 = 4;
/// How long the writer may take to commit and answer one UPDATE.
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);
/// Relay threads: UPDATEs relayed at once over UDP (the writer commits them together).
pub const RELAY_THREADS: usize = 8;

/// True for a message the writer answers: an UPDATE or a NOTIFY (a request with OPCODE 5 or 4).
#[inline]
pub fn is_for_writer(packet: &[u8]) -> bool {
    packet.len() >= 12 && packet[2] & 0x80 == 0 && matches!((packet[2] >> 3) & 0x0F, OPCODE_UPDATE | OPCODE_NOTIFY)
}

/// A connection to the writer, kept open between UPDATEs and opened again when it fails (the
/// writer restarted, say).
pub struct Link {
    socket: PathBuf,
    stream: Option<UnixStream>,
}

impl Link {
    pub fn new(db: &Path) -> Link {
        Link { socket: writer_link::socket_path(db), stream: None }
    }

    /// Forwards one UPDATE from `client` and returns the writer's reply; REFUSED when no writer
    /// answers on the socket.
    pub fn forward(&mut self, client: SocketAddr, message: &[u8]) -> Vec<u8> {
        // A kept connection may have been closed by a writer that went away: one fresh try.
        for fresh in [self.stream.is_none(), true] {
            match self.exchange(client, message) {
                Ok(reply) => return reply,
                Err(e) => {
                    self.stream = None;
                    if fresh {
                        tracing::debug!("no writer for an UPDATE ({e}): REFUSED");
                        break;
                    }
                }
            }
        }
        refused(message)
    }

    fn exchange(&mut self, client: SocketAddr, message: &[u8]) -> io::Result<Vec<u8>> {
        if self.stream.is_none() {
            let link = UnixStream::connect(&self.socket)?;
            link.set_read_timeout(Some(WRITER_TIMEOUT))?;
            link.set_write_timeout(Some(WRITER_TIMEOUT))?;
            self.stream = Some(link);
        }
        let link = self.stream.as_mut().expect("connected above");
        writer_link::write_request(link, client, message)?;
        writer_link::read_reply(link)
    }
}

/// The answer without a writer, with the zone section echoed (empty if it does not parse):
/// REFUSED for an UPDATE, NOTAUTH for a NOTIFY (as for a zone not served as a secondary).
pub fn refused(message: &[u8]) -> Vec<u8> {
    let mut name = QueryName::default();
    let mut out = Vec::new();
    if let Ok(q) = query::parse(message, &mut name) {
        let rcode = if q.opcode() == OPCODE_NOTIFY { RCODE_NOTAUTH } else { RCODE_REFUSED };
        let mut w = Writer::start(&mut out, message, &q);
        w.finish(&q, rcode as u16, false, false, None);
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
    let mut link = Link::new(&db);
    while !stop.requested() {
        let received = crossbeam_channel::select! {
            recv(updates) -> u => u.map_err(|_| RecvTimeoutError::Disconnected),
            recv(stop.signal()) -> _ => return,
            default(Duration::from_millis(200)) => Err(RecvTimeoutError::Timeout),
        };
        match received {
            Ok(u) => {
                let reply = link.forward(u.client, &u.message);
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
