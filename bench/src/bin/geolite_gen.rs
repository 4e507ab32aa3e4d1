//! Writes a generated GeoLite2-City-shaped data set (see `lmdns_bench::geolite`): the blocks CSV
//! (IPv4 then IPv6 rows), the locations CSV and the equivalent `.mmdb`.
//!
//! `cargo run --release -p lmdns-bench --bin geolite_gen -- --out DIR [--scale full|small]`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use lmdns_bench::geolite::{Data, Scale};

/// Generate GeoLite2-City-shaped CSVs and a matching .mmdb.
#[derive(Parser)]
struct Args {
    /// Directory to write GeoLite2-City-Blocks.csv, GeoLite2-City-Locations-en.csv and
    /// GeoLite2-City.mmdb into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// full: the real 2018 file's scale (3,074,175 IPv4 + 353,947 IPv6 networks, 458,432
    /// distinct metadata combinations); small: 20k + 3k networks, 4k combinations (tests).
    #[arg(long, default_value = "full")]
    scale: String,
    /// Seed of the generator (same seed, same files).
    #[arg(long, default_value_t = 2018)]
    seed: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let scale = match args.scale.as_str() {
        "full" => Scale::full(),
        "small" => Scale::small(),
        other => bail!("--scale {other:?}: use full or small"),
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let t = Instant::now();
    let data = Data::generate(scale, args.seed);
    let [blocks, locations] = data.write_csvs(&args.out).context("writing the CSVs")?;
    let mmdb = data.write_mmdb();
    let mmdb_path = args.out.join("GeoLite2-City.mmdb");
    std::fs::write(&mmdb_path, &mmdb).with_context(|| format!("writing {}", mmdb_path.display()))?;
    eprintln!(
        "{} IPv4 + {} IPv6 networks, {} metadata combinations, {} locations in {:.1}s: {} , {} , {} ({} bytes)",
        data.v4.len(),
        data.v6.len(),
        data.variants.len(),
        data.locations.len(),
        t.elapsed().as_secs_f64(),
        blocks.display(),
        locations.display(),
        mmdb_path.display(),
        mmdb.len()
    );
    Ok(())
}
