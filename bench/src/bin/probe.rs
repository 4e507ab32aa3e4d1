//! Waits until a DNS server answers NAME TYPE with NOERROR and at least one answer record (or
//! with RDATA containing --expect), polling every millisecond, and prints the milliseconds since
//! --since (Unix seconds with a fraction, e.g. bash's $EPOCHREALTIME; default: the probe's start).
//! Exits 1 after --timeout seconds (default 120) without such an answer.
//!
//! With --pid, gives up (exit 1) as soon as that process is gone.
//!
//! Usage: probe ADDR:PORT NAME TYPE [--expect TEXT] [--since T] [--timeout S] [--pid PID]

use std::time::{Duration, Instant};

use lmdns_bench::probe::{epoch_secs, Prober};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut pos, mut expect, mut since, mut timeout) = (Vec::new(), None, epoch_secs(), 120.0f64);
    let mut pid: Option<u32> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--expect" => {
                expect = Some(args[i + 1].clone());
                i += 1;
            }
            "--since" => {
                since = args[i + 1].parse().expect("--since SECONDS");
                i += 1;
            }
            "--pid" => {
                pid = Some(args[i + 1].parse().expect("--pid PID"));
                i += 1;
            }
            "--timeout" => {
                timeout = args[i + 1].parse().expect("--timeout SECONDS");
                i += 1;
            }
            _ => pos.push(args[i].clone()),
        }
        i += 1;
    }
    assert_eq!(pos.len(), 3, "usage: probe ADDR:PORT NAME TYPE [--expect TEXT] [--since T] [--timeout S]");
    let server = pos[0].parse().expect("ADDR:PORT");
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut prober = Prober::new(server, Duration::from_millis(50)).expect("socket");
    while Instant::now() < deadline {
        if let Some(pid) = pid {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                eprintln!("probe: server process {pid} exited");
                std::process::exit(1);
            }
        }
        if let Some(a) = prober.ask(&pos[1], &pos[2]) {
            let ok =
                a.rcode == 0 && !a.rdatas.is_empty() && expect.as_ref().is_none_or(|e| a.rdatas.iter().any(|r| r.contains(e.as_str())));
            if ok {
                println!("{:.1}", (epoch_secs() - since) * 1000.0);
                return;
            }
        } else {
            // Not listening yet: a refused port fails at once, so do not spin.
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!("probe: no answer for {} {} within {timeout} s", pos[1], pos[2]);
    std::process::exit(1);
}
