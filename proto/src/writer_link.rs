//! The local link between lmdns-server and the writer (`lmdns-loader serve`): a Unix stream
//! socket in the database directory ([`SOCKET_NAME`]), so a server finds the writer of its
//! database with no configuration. The server, a read-only reader, passes on what only the
//! writer may act on (DNS UPDATE) and relays the reply.
//!
//! ```text
//! request := len:u32 version:u8 family:u8 address:16 port:u16 message   (len counts what follows)
//! reply   := len:u32 message                                      (empty: no reply to send)
//! ```
//! `family` is 4 or 6, `address` the client's address (IPv4 in the first 4 bytes) and `port`
//! its port, for the writer's network-based update rules and its log. Requests on one connection are answered
//! in order.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The socket's file name inside the database directory.
pub const SOCKET_NAME: &str = "writer.sock";
const VERSION: u8 = 1;
const HEADER: usize = 20;
/// Largest frame: a DNS message plus the request header.
const MAX_FRAME: usize = 65_535 + HEADER;

/// The writer's socket for the database at `db`.
pub fn socket_path(db: &Path) -> PathBuf {
    db.join(SOCKET_NAME)
}

/// Writes a request for `message` from `client`.
pub fn write_request(out: &mut impl Write, client: SocketAddr, message: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + HEADER + message.len());
    frame.extend_from_slice(&((HEADER + message.len()) as u32).to_be_bytes());
    frame.push(VERSION);
    let mut address = [0u8; 16];
    match client.ip() {
        IpAddr::V4(v4) => {
            frame.push(4);
            address[..4].copy_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            frame.push(6);
            address = v6.octets();
        }
    }
    frame.extend_from_slice(&address);
    frame.extend_from_slice(&client.port().to_be_bytes());
    frame.extend_from_slice(message);
    out.write_all(&frame)
}

fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a writer-link frame of {len} bytes")));
    }
    let mut frame = vec![0u8; len];
    input.read_exact(&mut frame)?;
    Ok(Some(frame))
}

/// Reads one request: (client, message); None at the end of the stream.
pub fn read_request(input: &mut impl Read) -> io::Result<Option<(SocketAddr, Vec<u8>)>> {
    let Some(mut frame) = read_frame(input)? else { return Ok(None) };
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    if frame.len() < HEADER || frame[0] != VERSION {
        return Err(bad("not a writer-link request of version 1"));
    }
    let a: [u8; 16] = frame[2..18].try_into().expect("16 bytes");
    let client = match frame[1] {
        4 => IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
        6 => IpAddr::V6(Ipv6Addr::from(a)),
        _ => return Err(bad("unknown address family")),
    };
    let port = u16::from_be_bytes([frame[18], frame[19]]);
    Ok(Some((SocketAddr::new(client, port), frame.split_off(HEADER))))
}

/// Writes a reply (`message` empty: none).
pub fn write_reply(out: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let mut frame = Vec::with_capacity(4 + message.len());
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(message);
    out.write_all(&frame)
}

/// Reads one reply.
pub fn read_reply(input: &mut impl Read) -> io::Result<Vec<u8>> {
    read_frame(input)?.ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "the writer closed the link"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let mut buf = Vec::new();
        write_request(&mut buf, "192.0.2.7:5301".parse().unwrap(), b"msg-one").unwrap();
        write_request(&mut buf, "[2001:db8::1]:53".parse().unwrap(), b"").unwrap();
        let mut input = buf.as_slice();
        assert_eq!(read_request(&mut input).unwrap(), Some(("192.0.2.7:5301".parse().unwrap(), b"msg-one".to_vec())));
        assert_eq!(read_request(&mut input).unwrap(), Some(("[2001:db8::1]:53".parse().unwrap(), Vec::new())));
        assert_eq!(read_request(&mut input).unwrap(), None);
        let mut replies = Vec::new();
        write_reply(&mut replies, b"answer").unwrap();
        write_reply(&mut replies, b"").unwrap();
        let mut input = replies.as_slice();
        assert_eq!(read_reply(&mut input).unwrap(), b"answer");
        assert_eq!(read_reply(&mut input).unwrap(), b"");
        assert!(read_reply(&mut input).is_err());
        // Garbage is an error, never a panic or a huge allocation.
        for bad in [
            &[0xff, 0xff, 0xff, 0xff][..],
            &[0, 0, 0, 3, 1, 4, 0],
            &[0, 0, 0, 20, 2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert!(read_request(&mut &bad[..]).is_err(), "{bad:?}");
        }
    }
}
