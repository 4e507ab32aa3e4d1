//! The rows of a CSV range file, read on a thread of their own: the csv parse, the address
//! parse, the row's memo key and its hash for one batch overlap with interning the batch
//! before on the importing thread.
//!
//! Why: a GeoLite2-City import spends about a third of its time reading and keying rows and
//! a third probing the memo (a cache miss into 458k keys per row); one after the other on one
//! core they took 4.35 s for 3.43M ranges (0.79M/s).

use std::hash::BuildHasher;
use std::io::Read;
use std::net::IpAddr;

use anyhow::{anyhow, Result};

use super::input::{parse_cidr, parse_ip};

/// Rows per batch: big enough that the hand-over costs nothing per row, small enough that the
/// batches in flight stay in the cache.
const BATCH_ROWS: usize = 4096;
/// Batches the reader may run ahead.
const IN_FLIGHT: usize = 4;

/// Where a row's range is.
pub enum Bounds {
    StartEnd(usize, usize),
    Network(usize),
}

/// One row: its range and line, and its metadata cells as the memo key (each cell followed by
/// 0xff, which UTF-8 never contains) with the key's hash.
pub struct Row<'b> {
    pub start: IpAddr,
    pub end: IpAddr,
    pub line: u64,
    pub key: &'b [u8],
    pub hash: u64,
}

impl<'b> Row<'b> {
    /// The metadata cells, in the order of the `meta_cols` the rows were read with.
    pub fn cells(&self) -> impl Iterator<Item = &'b str> {
        self.key.strip_suffix(&[0xff]).into_iter().flat_map(|key| key.split(|&b| b == 0xff)).map(|cell| {
            // Cut from a `str` at the 0xff bytes added after each cell: whole UTF-8 cells.
            std::str::from_utf8(cell).expect("a cell of a csv StringRecord")
        })
    }
}

#[derive(Default)]
struct Batch {
    ranges: Vec<(IpAddr, IpAddr, u64)>,
    keys: Vec<u8>,
    /// End of row `i`'s key in `keys`.
    ends: Vec<usize>,
    hashes: Vec<u64>,
}

impl Batch {
    fn clear(&mut self) {
        self.ranges.clear();
        self.keys.clear();
        self.ends.clear();
        self.hashes.clear();
    }

    fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        (0..self.ranges.len()).map(|i| {
            let (start, end, line) = self.ranges[i];
            let from = if i == 0 { 0 } else { self.ends[i - 1] };
            Row { start, end, line, key: &self.keys[from..self.ends[i]], hash: self.hashes[i] }
        })
    }
}

/// What the reading thread sends: a batch, or the error that stopped it (after the rows
/// before it, so errors come in file order).
enum Sent {
    Rows(Batch),
    Failed(anyhow::Error),
}

/// Reads every record of `reader` on a second thread and hands each row, in file order, to
/// `each` on this one. The first error — of the file (named `name`, with its line) or of
/// `each` — stops both and is returned.
pub fn for_each_row<R: Read + Send>(
    mut reader: csv::Reader<crate::input::Guarded<R>>,
    name: &str,
    bounds: Bounds,
    meta_cols: &[usize],
    hasher: foldhash::fast::FixedState,
    mut each: impl FnMut(Row<'_>) -> Result<()>,
) -> Result<()> {
    let (full_tx, full_rx) = crossbeam_channel::bounded::<Sent>(IN_FLIGHT);
    let (empty_tx, empty_rx) = crossbeam_channel::bounded::<Batch>(IN_FLIGHT + 2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut record = csv::StringRecord::new();
            let mut batch = Batch::default();
            let failed = loop {
                match reader.read_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => {
                        break reader.get_ref().check_quotes_closed().err().map(|e| anyhow::Error::from(e).context(name.to_string()))
                    }
                    Err(e) => break Some(super::input::csv_error(name, e)),
                }
                let line = record.position().map(|p| p.line()).unwrap_or(0);
                let range = match bounds {
                    Bounds::StartEnd(s, e) => parse_ip(&record[s]).and_then(|s| Ok((s, parse_ip(&record[e])?))),
                    Bounds::Network(n) => parse_cidr(&record[n]),
                };
                let (start, end) = match range {
                    Ok(range) => range,
                    Err(reason) => break Some(anyhow!("{name}:{line}: {reason}")),
                };
                let from = batch.keys.len();
                for &i in meta_cols {
                    batch.keys.extend_from_slice(record[i].as_bytes());
                    batch.keys.push(0xff);
                }
                batch.hashes.push(hasher.hash_one(&batch.keys[from..]));
                batch.ends.push(batch.keys.len());
                batch.ranges.push((start, end, line));
                if batch.ranges.len() == BATCH_ROWS {
                    let next = empty_rx.try_recv().unwrap_or_default();
                    if full_tx.send(Sent::Rows(std::mem::replace(&mut batch, next))).is_err() {
                        return; // the importing thread stopped
                    }
                }
            };
            if !batch.ranges.is_empty() && full_tx.send(Sent::Rows(batch)).is_err() {
                return;
            }
            if let Some(e) = failed {
                let _ = full_tx.send(Sent::Failed(e));
            }
        });
        // Dropping the receiver (on return, also with an error) stops the reading thread.
        let full_rx = full_rx;
        for sent in full_rx.iter() {
            let mut batch = match sent {
                Sent::Rows(batch) => batch,
                Sent::Failed(e) => return Err(e),
            };
            for row in batch.rows() {
                each(row)?;
            }
            batch.clear();
            let _ = empty_tx.try_send(batch);
        }
        Ok(())
    })
}
