//! Update-under-load driver: runs `lmdns-loader record add` (one process and one commit per
//! change, like an operator's script) at a fixed rate for a fixed time, and after each loader exit
//! measures how long until the server answers with the new record.
//!
//! Usage: update_load LOADER DB ADDR:PORT ZONES_FILE [--rate N] [--seconds S] [--max N]
//! Prints a one-line JSON summary.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lmdns_bench::probe::Prober;

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pos = Vec::new();
    let (mut rate, mut seconds, mut max) = (100.0f64, 10.0f64, 100_000usize);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--rate" => rate = args[i + 1].parse().expect("--rate"),
            "--seconds" => seconds = args[i + 1].parse().expect("--seconds"),
            "--max" => max = args[i + 1].parse().expect("--max"),
            _ => {
                pos.push(args[i].clone());
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    assert_eq!(pos.len(), 4, "usage: update_load LOADER DB ADDR:PORT ZONES_FILE [--rate N] [--seconds S] [--max N]");
    let (loader, db) = (PathBuf::from(&pos[0]), PathBuf::from(&pos[1]));
    let server = pos[2].parse().expect("ADDR:PORT");
    let zones: Vec<String> =
        std::fs::read_to_string(&pos[3]).expect("zones file").lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    let mut prober = Prober::new(server, Duration::from_millis(20)).expect("socket");
    let tag = std::process::id();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let (mut ok, mut failed, mut invisible) = (0usize, 0usize, 0usize);
    let (mut loader_ms, mut visible_ms) = (Vec::new(), Vec::new());
    let mut next = start;
    let mut n = 0usize;
    while Instant::now() < end && n < max {
        let zone = &zones[n % zones.len()];
        let name = format!("upd{tag}-{n}.{zone}");
        let ip = format!("192.0.2.{}", n % 250 + 1);
        let t0 = Instant::now();
        let status = Command::new(&loader)
            .arg("--db")
            .arg(&db)
            .args(["record", "add", &name, "300", "A", &ip])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t1 = Instant::now();
        n += 1;
        if !matches!(status, Ok(s) if s.success()) {
            failed += 1;
        } else {
            ok += 1;
            loader_ms.push((t1 - t0).as_secs_f64() * 1000.0);
            // Poll until the change shows (bounded at 2 s).
            let mut seen = false;
            while t1.elapsed() < Duration::from_secs(2) {
                if let Some(a) = prober.ask(&name, "A") {
                    if a.rcode == 0 && a.rdatas.iter().any(|r| r == &ip) {
                        seen = true;
                        break;
                    }
                }
            }
            if seen {
                visible_ms.push(t1.elapsed().as_secs_f64() * 1000.0);
            } else {
                invisible += 1;
            }
        }
        next += interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now; // behind schedule: do not burst to catch up
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"changes\":{ok},\"failed\":{failed},\"never_visible\":{invisible},\"seconds\":{secs:.2},\"rate\":{:.1},\"loader_ms_p50\":{:.2},\"loader_ms_p95\":{:.2},\"visible_ms_p50\":{:.3},\"visible_ms_p95\":{:.3},\"visible_ms_max\":{:.3}}}",
        ok as f64 / secs,
        pct(&mut loader_ms, 0.5),
        pct(&mut loader_ms, 0.95),
        pct(&mut visible_ms, 0.5),
        pct(&mut visible_ms, 0.95),
        pct(&mut visible_ms, 1.0),
    );
}
