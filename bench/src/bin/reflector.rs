//! The physical floor of a UDP DNS server: recvmmsg a batch, set QR in each packet, sendmmsg it
//! back — the same syscalls, batch size and socket options as lmdns-server's UDP worker, with no
//! DNS work at all. What a server spends per query above this is its own.
//!
//! Usage: reflector [ADDR:PORT] [--batch N] [--seconds S]
//! (default 127.0.0.1:5399, batch 64; runs until SIGTERM/SIGINT, or S seconds if given).

use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BUF: usize = 4096;
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() {
    let mut addr: SocketAddr = "127.0.0.1:5399".parse().unwrap();
    let mut batch = 64usize;
    let mut seconds: Option<u64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let ok = match a.as_str() {
            "--batch" => args.next().and_then(|v| v.parse().ok()).filter(|b| (1..=1024).contains(b)).map(|b| batch = b).is_some(),
            "--seconds" => args.next().and_then(|v| v.parse().ok()).map(|s| seconds = Some(s)).is_some(),
            other => other.parse().map(|a| addr = a).is_ok(),
        };
        if !ok {
            eprintln!("reflector: bad argument near {a:?}\nusage: reflector [ADDR:PORT] [--batch 1-1024] [--seconds S]");
            std::process::exit(2);
        }
    }
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic.
        unsafe {
            let mut action: libc::sigaction = zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }

    // The server's own socket setup (SO_REUSEPORT, buffer, no fragmentation, receive timeout),
    // so the floor pays what the server's sockets pay in the kernel.
    let socket = lmdns_server::transport::udp::bind_socket(addr, false).expect("bind");
    let fd = socket.as_raw_fd();
    eprintln!("reflector on {addr}, batch {batch}");

    let mut bufs = vec![0u8; batch * BUF];
    // SAFETY (zeroed): plain C structs.
    let mut addrs: Vec<libc::sockaddr_storage> = (0..batch).map(|_| unsafe { zeroed() }).collect();
    let mut iov: Vec<libc::iovec> = (0..batch).map(|_| unsafe { zeroed() }).collect();
    let mut hdrs: Vec<libc::mmsghdr> = (0..batch).map(|_| unsafe { zeroed() }).collect();
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut total = 0u64;
    while !STOP.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        for i in 0..batch {
            iov[i] = libc::iovec { iov_base: bufs[i * BUF..].as_mut_ptr().cast(), iov_len: BUF };
            let h = &mut hdrs[i].msg_hdr;
            h.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iov[i];
            h.msg_iovlen = 1;
            h.msg_flags = 0;
            hdrs[i].msg_len = 0;
        }
        // Blocking wait for the first packet (read timeout bounds it), then take what is queued.
        // SAFETY: hdrs point into live buffers of the declared sizes.
        let n = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), batch as libc::c_uint, libc::MSG_WAITFORONE, std::ptr::null_mut()) };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = hdrs[i].msg_len as usize;
            if len >= 3 {
                bufs[i * BUF + 2] |= 0x80; // QR
            }
            iov[i].iov_len = len;
        }
        let mut sent = 0;
        while sent < n {
            // SAFETY: as above, lengths now the received sizes.
            let rc = unsafe { libc::sendmmsg(fd, hdrs[sent..].as_mut_ptr(), (n - sent) as libc::c_uint, 0) };
            if rc <= 0 {
                sent += 1; // skip a failing destination
            } else {
                sent += rc as usize;
            }
        }
        total += n as u64;
    }
    eprintln!("reflector: {total} packets echoed");
}
