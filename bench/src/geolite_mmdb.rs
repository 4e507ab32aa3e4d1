//! A minimal MaxMind DB (format 2.0) writer: data section encoder with pointers, and a
//! 28-bit-record search tree; a submodule of `geolite.rs` (std only).

/// The data section being built; every value written returns its offset.
#[derive(Default)]
pub struct Writer {
    pub data: Vec<u8>,
    /// Map keys and `names` maps written once, then pointed at.
    strings: std::collections::HashMap<String, u32>,
}

/// Counts the entries of a map being written (its control byte is patched at the end).
pub struct MapCtx {
    count: usize,
}

pub fn ctrl(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, ext) = if ty <= 7 { (ty << 5, None) } else { (0, Some(ty - 7)) };
    let push = |out: &mut Vec<u8>, low: u8, extra: &[u8]| {
        out.push(first | low);
        if let Some(e) = ext {
            out.push(e);
        }
        out.extend_from_slice(extra);
    };
    if size < 29 {
        push(out, size as u8, &[]);
    } else if size < 29 + 256 {
        push(out, 29, &[(size - 29) as u8]);
    } else if size < 285 + 65536 {
        push(out, 30, &((size - 285) as u16).to_be_bytes());
    } else {
        push(out, 31, &((size - 65821) as u32).to_be_bytes()[1..]);
    }
}

impl Writer {
    fn at(&self) -> u32 {
        self.data.len() as u32
    }
    pub fn string(&mut self, s: &str) -> u32 {
        let at = self.at();
        ctrl(&mut self.data, 2, s.len());
        self.data.extend_from_slice(s.as_bytes());
        at
    }
    /// A string stored once, pointed at afterwards (map keys, repeated names).
    pub fn shared_string(&mut self, s: &str) -> u32 {
        if let Some(&at) = self.strings.get(s) {
            return self.pointer(at);
        }
        let first = self.at();
        self.string(s);
        self.strings.insert(s.to_string(), first);
        first
    }
    pub fn uint(&mut self, ty: u8, v: u64) -> u32 {
        let at = self.at();
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        ctrl(&mut self.data, ty, 8 - skip);
        self.data.extend_from_slice(&bytes[skip..]);
        at
    }
    pub fn double(&mut self, v: f64) -> u32 {
        let at = self.at();
        ctrl(&mut self.data, 3, 8);
        self.data.extend_from_slice(&v.to_be_bytes());
        at
    }
    pub fn boolean(&mut self, v: bool) -> u32 {
        let at = self.at();
        ctrl(&mut self.data, 14, v as usize);
        at
    }
    pub fn pointer(&mut self, to: u32) -> u32 {
        let at = self.at();
        let d = &mut self.data;
        if to < 2048 {
            d.push(0x20 | (to >> 8) as u8);
            d.push(to as u8);
        } else if to < 2048 + 524_288 {
            let v = to - 2048;
            d.push(0x28 | (v >> 16) as u8);
            d.extend_from_slice(&(v as u16).to_be_bytes());
        } else if to < 526_336 + (1 << 27) {
            let v = to - 526_336;
            d.push(0x30 | (v >> 24) as u8);
            d.extend_from_slice(&v.to_be_bytes()[1..]);
        } else {
            d.push(0x38);
            d.extend_from_slice(&to.to_be_bytes());
        }
        at
    }
    /// `{"en": name}`, shared between equal names.
    pub fn names(&mut self, name: &str) -> u32 {
        let key = format!("\0names\0{name}");
        if let Some(&at) = self.strings.get(&key) {
            return self.pointer(at);
        }
        let at = self.map(|w, m| w.entry(m, "en", |w| w.string(name)));
        self.strings.insert(key, at);
        at
    }
    /// A map whose entries `body` writes with [`Writer::entry`] (at most 28 of them).
    pub fn map(&mut self, body: impl FnOnce(&mut Writer, &mut MapCtx)) -> u32 {
        let at = self.at();
        self.data.push(0); // control byte, patched below
        let mut m = MapCtx { count: 0 };
        body(self, &mut m);
        assert!(m.count < 29, "small maps only");
        self.data[at as usize] = (7 << 5) | m.count as u8;
        at
    }
    pub fn entry(&mut self, m: &mut MapCtx, key: &str, value: impl FnOnce(&mut Writer) -> u32) {
        self.shared_string(key);
        value(self);
        m.count += 1;
    }
    pub fn array(&mut self, n: usize, body: impl FnOnce(&mut Writer)) -> u32 {
        let at = self.at();
        ctrl(&mut self.data, 11, n);
        body(self);
        at
    }
}

/// Binary trie over 128-bit addresses; leaves hold data offsets.
#[derive(Default)]
pub struct Tree {
    nodes: Vec<[u32; 2]>,
}

const DATA: u32 = 1 << 31;

impl Tree {
    pub fn insert(&mut self, bits: u128, len: u8, offset: u32) {
        if self.nodes.is_empty() {
            self.nodes.push([0, 0]);
        }
        let mut node = 0usize;
        for depth in 0..len as u32 {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth == len as u32 - 1 {
                self.nodes[node][bit] = DATA | offset;
                return;
            }
            let next = self.nodes[node][bit];
            assert!(next & DATA == 0, "overlapping networks");
            node = if next == 0 {
                self.nodes.push([0, 0]);
                let n = self.nodes.len() as u32 - 1;
                self.nodes[node][bit] = n;
                n as usize
            } else {
                next as usize
            };
        }
    }

    /// The whole file: tree, separator, data, metadata.
    pub fn finish(self, data: &[u8], database_type: &str) -> Vec<u8> {
        let node_count = self.nodes.len() as u32;
        let mut out = Vec::with_capacity(self.nodes.len() * 7 + data.len() + 256);
        let resolve = |rec: u32| {
            if rec == 0 {
                node_count
            } else if rec & DATA != 0 {
                node_count + 16 + (rec & !DATA)
            } else {
                rec
            }
        };
        for n in &self.nodes {
            let (l, r) = (resolve(n[0]), resolve(n[1]));
            assert!(l < 1 << 28 && r < 1 << 28, "28-bit records overflow");
            out.extend_from_slice(&l.to_be_bytes()[1..]);
            out.push(((l >> 24) as u8) << 4 | (r >> 24) as u8);
            out.extend_from_slice(&r.to_be_bytes()[1..]);
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend_from_slice(data);
        out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
        let mut m = Writer::default();
        m.map(|w, m| {
            w.entry(m, "binary_format_major_version", |w| w.uint(5, 2));
            w.entry(m, "binary_format_minor_version", |w| w.uint(5, 0));
            w.entry(m, "build_epoch", |w| w.uint(9, 1_700_000_000));
            w.entry(m, "database_type", |w| w.string(database_type));
            w.entry(m, "description", |w| w.map(|w, m| w.entry(m, "en", |w| w.string("lmdns generated data set"))));
            w.entry(m, "ip_version", |w| w.uint(5, 6));
            w.entry(m, "languages", |w| {
                w.array(1, |w| {
                    w.string("en");
                })
            });
            w.entry(m, "node_count", |w| w.uint(6, node_count as u64));
            w.entry(m, "record_size", |w| w.uint(5, 28));
        });
        out.extend_from_slice(&m.data);
        out
    }
}
