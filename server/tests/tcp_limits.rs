//! TCP under hostile clients: a slowloris dripping bytes cannot hold a connection past the
//! per-message deadline; one source cannot take more than its share of connections; a server
//! full of idle connections makes room for a new one by closing the idle-longest, and one full
//! of connections mid-message closes the newcomer instead.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::secondary::{metric, metrics_text};
use common::tcp::{closed_within, frame, query_bytes, tcp_ask, tcp_connect, IO_TIMEOUT};
use common::{LmdnsCommand, LmdnsProcess, TestDb};

fn start_server(args: &[&str]) -> LmdnsProcess {
    LmdnsCommand::owning(TestDb::empty(16 << 20)).args(["--threads", "1", "--listen", "127.0.0.1:0"]).args(args).attempts(3).start()
}

/// A connection from the loopback address `source` (127.0.0.0/8 are all ours).
fn connect_from(source: [u8; 4], server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((source, 0)).into()).unwrap();
    socket.connect_timeout(&server.into(), IO_TIMEOUT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream
}

fn answered(stream: &mut TcpStream, id: u16) -> bool {
    stream.write_all(&frame(&query_bytes(id, "example.com."))).is_ok() && {
        let mut len = [0u8; 2];
        std::io::Read::read_exact(stream, &mut len).is_ok()
    }
}

#[test]
fn a_query_dripped_byte_by_byte_is_cut_off_at_the_message_deadline() {
    let server = start_server(&["--tcp-idle-timeout", "30", "--tcp-message-timeout", "600"]);
    let mut stream = tcp_connect(server.addr());
    let framed = frame(&query_bytes(1, "example.com."));
    let start = Instant::now();
    // One byte every 150 ms: each restarts an idle timer, none completes the query.
    let mut closed = false;
    for byte in &framed[..framed.len() - 1] {
        if stream.write_all(&[*byte]).is_err() || closed_within(&mut stream, Duration::from_millis(150)).is_some() {
            closed = true;
            break;
        }
    }
    let took = start.elapsed();
    assert!(closed, "a dripping client kept the connection for {took:?}");
    assert!(took >= Duration::from_millis(450) && took < Duration::from_secs(3), "closed after {took:?}");
    // A client that sends its query at once is answered as before.
    let mut prompt = tcp_connect(server.addr());
    assert_eq!(tcp_ask(&mut prompt, 2).metadata.id, 2);
}

#[test]
fn one_source_cannot_take_more_than_its_share() {
    let server = start_server(&["--tcp-max-per-source", "2"]);
    let mut mine: Vec<TcpStream> = (0..2).map(|_| connect_from([127, 0, 0, 1], server.addr())).collect();
    for (i, stream) in mine.iter_mut().enumerate() {
        assert!(answered(stream, i as u16), "connection {i} within the share");
    }
    let mut third = connect_from([127, 0, 0, 1], server.addr());
    assert!(!answered(&mut third, 9) || closed_within(&mut third, Duration::from_secs(2)).is_some(), "the third from one source");
    // Another source is served meanwhile, and the first two still are.
    let mut other = connect_from([127, 0, 0, 2], server.addr());
    assert!(answered(&mut other, 10), "another source");
    assert!(answered(&mut mine[0], 11));
}

#[test]
fn a_full_server_closes_the_idle_longest_for_a_newcomer() {
    let server = start_server(&["--tcp-max-connections", "2", "--http", "127.0.0.1:0"]);
    let mut first = tcp_connect(server.addr());
    let mut second = tcp_connect(server.addr());
    assert!(answered(&mut first, 1));
    assert!(answered(&mut second, 2));
    // Both idle between messages: the newcomer is served and the idle-longest (first) closed.
    let mut third = tcp_connect(server.addr());
    assert!(answered(&mut third, 3), "the newcomer must be served");
    assert!(closed_within(&mut first, Duration::from_secs(3)).is_some(), "the idle-longest is closed");
    assert!(answered(&mut second, 4), "the other stays");

    // Both in the middle of a message (half a query sent): the newcomer is closed instead.
    let half = frame(&query_bytes(5, "example.com."));
    second.write_all(&half[..5]).unwrap();
    third.write_all(&half[..5]).unwrap();
    // Wait until the server has read both halves: its gauge of connections mid-message says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&metrics_text(server.http()), "lmdns_tcp_connections_mid_message") != Some(2.0) {
        assert!(Instant::now() < deadline, "the server never counted two connections mid-message");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut fourth = tcp_connect(server.addr());
    let _ = fourth.write_all(&frame(&query_bytes(6, "example.com.")));
    assert!(closed_within(&mut fourth, Duration::from_secs(3)).is_some(), "a newcomer to a server busy with messages");
    second.write_all(&half[5..]).unwrap();
    assert!(closed_within(&mut second, Duration::from_millis(300)).is_none(), "the busy ones are kept");
}
