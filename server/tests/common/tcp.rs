//! TCP client helpers of the transport tests: framing, a connection with timeouts, one
//! question asked, and waiting for the server to close.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::RecordType;

use super::DnsQuery;

/// Connect, read and write timeouts of the helpers.
pub const IO_TIMEOUT: Duration = Duration::from_secs(3);

pub fn query_bytes(id: u16, name: &str) -> Vec<u8> {
    DnsQuery::new(id, name, RecordType::A).message().to_vec().unwrap()
}

pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    out
}

pub fn tcp_connect(server: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&server, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

pub fn read_frame(stream: &mut TcpStream) -> Message {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).expect("answer length");
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut msg).expect("answer body");
    Message::from_vec(&msg).expect("answer parses")
}

pub fn tcp_ask(stream: &mut TcpStream, id: u16) -> Message {
    stream.write_all(&frame(&query_bytes(id, "example.com."))).unwrap();
    read_frame(stream)
}

/// Reads until the server closes the connection; returns how long that took, or None if it stayed
/// open for `within`.
pub fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue, // not expected, but a close may follow
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return Some(start.elapsed()),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            Err(e) => panic!("read: {e}"),
        }
    }
}
