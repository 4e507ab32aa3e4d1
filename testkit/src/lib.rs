//! Test and benchmark helpers that run real peer DNS servers (Knot DNS, BIND, NSD, PowerDNS)
//! on loopback: used by the server's interop tests and by the replication benchmark, so both
//! drive the peers the same way.

pub mod peers;

use std::net::{TcpListener, UdpSocket};
use std::path::PathBuf;

/// Find an executable by name on `PATH` and in the sbin directories (knotd and nsd live in
/// `/usr/sbin`, which is not always on a test runner's `PATH`).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    for extra in ["/usr/sbin", "/usr/local/sbin", "/sbin"] {
        dirs.push(PathBuf::from(extra));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Like [`find_tool`], but a missing tool is a test failure with a clear message (CI installs
/// them; a silent skip would hide a broken CI).
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| {
        panic!(
            "`{name}` not found on PATH or in /usr/sbin: these tests need it. \
             Install it with `apt-get install {package}` (./test.sh installs every peer)."
        )
    })
}

/// A loopback port that is free for both UDP and TCP right now (bounded attempts).
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(udp) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = udp.local_addr() else { continue };
        if TcpListener::bind(addr).is_ok() {
            return addr.port();
        }
    }
    panic!("no loopback port free for both UDP and TCP after 100 attempts");
}

/// A name (no escapes; trailing dot optional) in uncompressed wire format.
pub fn wire(name: &str) -> Vec<u8> {
    let mut w = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        w.push(label.len() as u8);
        w.extend_from_slice(label.as_bytes());
    }
    w.push(0);
    w
}
