//! A GeoLite2-City-shaped data set, generated: the blocks CSVs (IPv4 and IPv6), the locations
//! CSV, and an equivalent `.mmdb` (City layout, English names, data deduplicated by pointers as
//! MaxMind's writer does), so imports and lookups can be measured at the real data's scale
//! without the real data (which this project does not ship).
//!
//! Shape of GeoLite2-City 2018: 3,074,175 IPv4 and 353,947 IPv6 networks, ~460k distinct
//! block metadata combinations (geoname, postal code, coordinates, accuracy), ~120k locations.
//! [`Scale::full`] is that; [`Scale::small`] is for tests.
//!
//! Std only, deterministic (xorshift seeds): loader tests include this file by path.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How much to generate.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub v4: usize,
    pub v6: usize,
    /// Distinct block metadata combinations (the "distinct metadata objects").
    pub variants: usize,
    /// City locations (countries come on top).
    pub cities: usize,
}

impl Scale {
    pub fn full() -> Scale {
        Scale { v4: 3_074_175, v6: 353_947, variants: 458_432, cities: 120_000 }
    }
    pub fn small() -> Scale {
        Scale { v4: 20_000, v6: 3_000, variants: 4_000, cities: 1_500 }
    }
}

/// One location row (geoname): a city, or a country alone (`city` empty).
#[derive(Clone, Debug)]
pub struct Location {
    pub geoname_id: u32,
    pub continent: usize,
    pub country: usize,
    pub subdivision: Option<(String, String)>,
    pub subdivision2: Option<(String, String)>,
    pub city: String,
    pub metro_code: Option<u32>,
    pub time_zone: String,
}

/// One distinct block metadata combination.
#[derive(Clone, Debug)]
pub struct Variant {
    /// Index into [`Data::locations`].
    pub location: usize,
    /// Index into [`Data::locations`] of the registered country's row.
    pub registered: usize,
    pub represented: Option<usize>,
    pub proxy: bool,
    pub satellite: bool,
    pub postal: String,
    /// Coordinates as the CSV spells them (4 decimals, trailing zeros kept).
    pub latitude: String,
    pub longitude: String,
    pub accuracy: u32,
}

/// A network: first address, prefix length, variant.
#[derive(Clone, Copy, Debug)]
pub struct Net<A> {
    pub start: A,
    pub prefix: u8,
    pub variant: u32,
}

pub struct Data {
    pub continents: Vec<(&'static str, &'static str, u32)>,
    /// (iso code, name, geoname id, in EU, row in `locations`).
    pub countries: Vec<(String, String, u32, bool, usize)>,
    pub locations: Vec<Location>,
    pub variants: Vec<Variant>,
    pub v4: Vec<Net<u32>>,
    pub v6: Vec<Net<u128>>,
}

const CONTINENTS: [(&str, &str, u32); 7] = [
    ("AF", "Africa", 6255146),
    ("AN", "Antarctica", 6255152),
    ("AS", "Asia", 6255147),
    ("EU", "Europe", 6255148),
    ("NA", "North America", 6255149),
    ("OC", "Oceania", 6255151),
    ("SA", "South America", 6255150),
];

/// A pronounceable made-up name; a few carry non-ASCII letters, commas or quotes, which the CSV
/// must quote and the JSON must keep.
fn name(rng: &mut Rng) -> String {
    const SYL: [&str; 24] = [
        "ka", "lo", "mi", "ra", "to", "ve", "san", "ber", "ham", "dor", "ni", "qu", "el", "os", "ta", "vi", "ro", "mü", "ço", "ñe", "ly",
        "an", "ex", "ur",
    ];
    let mut s = String::new();
    for _ in 0..2 + rng.below(3) {
        s.push_str(SYL[rng.below(SYL.len() as u64) as usize]);
    }
    let mut c = s.chars();
    let mut out: String = c.next().map(|f| f.to_uppercase().collect::<String>()).unwrap_or_default();
    out.extend(c);
    match rng.below(200) {
        0 => out.push_str(", Saint"),
        1 => out.push_str(" \"Old\" Town"),
        2..=9 => out.push_str(" City"),
        _ => {}
    }
    out
}

impl Data {
    pub fn generate(scale: Scale, seed: u64) -> Data {
        let mut rng = Rng(seed | 1);
        let mut locations = Vec::new();
        let mut countries = Vec::new();
        let n_countries = 250;
        for i in 0..n_countries {
            let code = format!("{}{}", (b'A' + (i / 26) as u8) as char, (b'A' + (i % 26) as u8) as char);
            let continent = rng.below(7) as usize;
            let eu = continent == 3 && rng.below(2) == 0;
            let geoname_id = 1_000_000 + i as u32 * 7;
            let row = locations.len();
            locations.push(Location {
                geoname_id,
                continent,
                country: i,
                subdivision: None,
                subdivision2: None,
                city: String::new(),
                metro_code: None,
                time_zone: String::new(),
            });
            countries.push((code, name(&mut rng), geoname_id, eu, row));
        }
        for i in 0..scale.cities {
            // Skewed: a few countries hold most cities.
            let country = ((rng.unit().powi(3)) * n_countries as f64) as usize % n_countries;
            let sub = (rng.below(10) < 8).then(|| (format!("{}", rng.below(99) + 1), name(&mut rng)));
            let sub2 = (rng.below(10) == 0).then(|| (format!("S{}", rng.below(999)), name(&mut rng)));
            locations.push(Location {
                geoname_id: 2_000_000 + i as u32 * 3,
                continent: locations[countries[country].4].continent,
                country,
                subdivision: sub,
                subdivision2: sub2,
                city: name(&mut rng),
                metro_code: (rng.below(20) == 0).then(|| 500 + rng.below(400) as u32),
                time_zone: format!("{}/{}", CONTINENTS[locations[countries[country].4].continent].1.replace(' ', "_"), name(&mut rng)),
            });
        }
        let mut variants = Vec::with_capacity(scale.variants);
        for _ in 0..scale.variants {
            let city = rng.below(10) < 9;
            let location = if city {
                n_countries + rng.below(scale.cities as u64) as usize
            } else {
                countries[rng.below(n_countries as u64) as usize].4
            };
            let country = locations[location].country;
            let registered = if rng.below(20) == 0 { countries[rng.below(n_countries as u64) as usize].4 } else { countries[country].4 };
            let coord = |rng: &mut Rng, span: f64| format!("{:.4}", (rng.unit() * 2.0 - 1.0) * span);
            variants.push(Variant {
                location,
                registered,
                represented: (rng.below(500) == 0).then(|| countries[rng.below(n_countries as u64) as usize].4),
                proxy: rng.below(1000) == 0,
                satellite: rng.below(2000) == 0,
                postal: if city && rng.below(3) > 0 { format!("{:05}", rng.below(100_000)) } else { String::new() },
                latitude: coord(&mut rng, 80.0),
                longitude: coord(&mut rng, 179.0),
                accuracy: [1, 5, 10, 20, 50, 100, 200, 500, 1000][rng.below(9) as usize],
            });
        }
        // Networks: every variant used once, the rest drawn skewed from those used so far.
        let total = scale.v4 + scale.v6;
        let mut used = 0usize;
        let mut pick = |rng: &mut Rng, i: usize| -> u32 {
            let left = total - i;
            if used < scale.variants && (rng.below(left as u64) < (scale.variants - used) as u64) {
                used += 1;
                return (used - 1) as u32;
            }
            (rng.unit().powi(2) * used as f64) as u32 % used.max(1) as u32
        };
        // IPv4: /18–/32, mean ≈ 900 addresses, 1 in 16 followed by a gap; from 1.0.0.0.
        const V4: [(u8, u32); 12] =
            [(18, 1), (20, 4), (21, 5), (22, 9), (23, 10), (24, 31), (25, 8), (26, 8), (27, 7), (28, 7), (29, 6), (32, 4)];
        let weight: u32 = V4.iter().map(|w| w.1).sum();
        let mut v4 = Vec::with_capacity(scale.v4);
        let mut at: u64 = 0x0100_0000;
        // Sizes come in runs (allocations are made in blocks): a new size 1 in 4 networks.
        let mut prefix = 24;
        for i in 0..scale.v4 {
            if rng.below(4) == 0 {
                let mut w = rng.below(weight as u64) as u32;
                prefix = V4
                    .iter()
                    .find(|&&(_, k)| {
                        if w < k {
                            true
                        } else {
                            w -= k;
                            false
                        }
                    })
                    .map(|p| p.0)
                    .unwrap_or(24);
            }
            let size = 1u64 << (32 - prefix);
            at = (at + size - 1) & !(size - 1);
            if rng.below(16) == 0 {
                at += size;
            }
            assert!(at + size <= 0xE000_0000, "generator ran out of IPv4 space at network {i}");
            v4.push(Net { start: at as u32, prefix, variant: pick(&mut rng, i) });
            at += size;
        }
        // IPv6: /29–/64 inside 2000::/3, in runs of one size (a new one 1 in 16).
        let mut v6 = Vec::with_capacity(scale.v6);
        let mut at: u128 = 0x2001_0000u128 << 96;
        let mut prefix = 48;
        for i in 0..scale.v6 {
            if rng.below(16) == 0 {
                prefix = [29u8, 32, 32, 36, 40, 44, 48, 48, 48, 56, 64][rng.below(11) as usize];
            }
            let size = 1u128 << (128 - prefix);
            at = (at + size - 1) & !(size - 1);
            if rng.below(8) == 0 {
                at += size;
            }
            v6.push(Net { start: at, prefix, variant: pick(&mut rng, scale.v4 + i) });
            at += size;
        }
        Data { continents: CONTINENTS.to_vec(), countries, locations, variants, v4, v6 }
    }

    /// Writes `GeoLite2-City-Blocks.csv` (the IPv4 blocks file followed by the IPv6 one's rows,
    /// one header: how one table holds both) and `GeoLite2-City-Locations-en.csv` into `dir`;
    /// returns their paths (blocks, locations).
    pub fn write_csvs(&self, dir: &Path) -> io::Result<[std::path::PathBuf; 2]> {
        let paths = [dir.join("GeoLite2-City-Blocks.csv"), dir.join("GeoLite2-City-Locations-en.csv")];
        const HEADER: &str = "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,is_satellite_provider,postal_code,latitude,longitude,accuracy_radius";
        let mut f = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&paths[0])?);
        writeln!(f, "{HEADER}")?;
        for v4 in [true, false] {
            let mut line = String::new();
            let count = if v4 { self.v4.len() } else { self.v6.len() };
            for i in 0..count {
                line.clear();
                let (variant, net) = if v4 {
                    let n = self.v4[i];
                    (n.variant, format!("{}/{}", Ipv4Addr::from(n.start), n.prefix))
                } else {
                    let n = self.v6[i];
                    (n.variant, format!("{}/{}", Ipv6Addr::from(n.start), n.prefix))
                };
                let v = &self.variants[variant as usize];
                let id = |row: usize| self.locations[row].geoname_id;
                let _ = write!(
                    line,
                    "{net},{},{},{},{},{},{},{},{},{}",
                    id(v.location),
                    id(v.registered),
                    v.represented.map(|r| id(r).to_string()).unwrap_or_default(),
                    v.proxy as u8,
                    v.satellite as u8,
                    v.postal,
                    v.latitude,
                    v.longitude,
                    v.accuracy
                );
                writeln!(f, "{line}")?;
            }
        }
        f.flush()?;
        let mut f = io::BufWriter::new(std::fs::File::create(&paths[1])?);
        writeln!(f, "geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,subdivision_1_iso_code,subdivision_1_name,subdivision_2_iso_code,subdivision_2_name,city_name,metro_code,time_zone,is_in_european_union")?;
        for l in &self.locations {
            let (cc, cname, _, eu, _) = &self.countries[l.country];
            let (con_code, con_name, _) = self.continents[l.continent];
            let (s1c, s1n) = l.subdivision.clone().unwrap_or_default();
            let (s2c, s2n) = l.subdivision2.clone().unwrap_or_default();
            let cells = [
                l.geoname_id.to_string(),
                "en".into(),
                con_code.into(),
                con_name.into(),
                cc.clone(),
                cname.clone(),
                s1c,
                s1n,
                s2c,
                s2n,
                l.city.clone(),
                l.metro_code.map(|m| m.to_string()).unwrap_or_default(),
                l.time_zone.clone(),
                (*eu as u8).to_string(),
            ];
            let quoted: Vec<String> =
                cells.iter().map(|c| if c.contains([',', '"']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() }).collect();
            writeln!(f, "{}", quoted.join(","))?;
        }
        f.flush()?;
        Ok(paths)
    }

    /// The metadata cells of `variant` as the join of its blocks row and its location row makes
    /// them (column name, raw cell; empty cells included), for tests to build the expected JSON.
    pub fn cells(&self, variant: u32) -> Vec<(&'static str, String)> {
        let v = &self.variants[variant as usize];
        let l = &self.locations[v.location];
        let (cc, cname, _, eu, _) = &self.countries[l.country];
        let (con_code, con_name, _) = self.continents[l.continent];
        let (s1c, s1n) = l.subdivision.clone().unwrap_or_default();
        let (s2c, s2n) = l.subdivision2.clone().unwrap_or_default();
        let id = |row: usize| self.locations[row].geoname_id.to_string();
        vec![
            ("geoname_id", id(v.location)),
            ("registered_country_geoname_id", id(v.registered)),
            ("represented_country_geoname_id", v.represented.map(id).unwrap_or_default()),
            ("is_anonymous_proxy", (v.proxy as u8).to_string()),
            ("is_satellite_provider", (v.satellite as u8).to_string()),
            ("postal_code", v.postal.clone()),
            ("latitude", v.latitude.clone()),
            ("longitude", v.longitude.clone()),
            ("accuracy_radius", v.accuracy.to_string()),
            ("continent_code", con_code.into()),
            ("continent_name", con_name.into()),
            ("country_iso_code", cc.clone()),
            ("country_name", cname.clone()),
            ("subdivision_1_iso_code", s1c),
            ("subdivision_1_name", s1n),
            ("subdivision_2_iso_code", s2c),
            ("subdivision_2_name", s2n),
            ("city_name", l.city.clone()),
            ("metro_code", l.metro_code.map(|m| m.to_string()).unwrap_or_default()),
            ("time_zone", l.time_zone.clone()),
            ("is_in_european_union", (*eu as u8).to_string()),
        ]
    }

    /// The country ISO code of `variant` (what a lookup of `country.iso_code` answers).
    pub fn country_code(&self, variant: u32) -> &str {
        &self.countries[self.locations[self.variants[variant as usize].location].country].0
    }

    /// The `.mmdb` (IPv6 tree with IPv4 under ::/96, 28-bit records) of the same networks.
    pub fn write_mmdb(&self) -> Vec<u8> {
        let mut w = mmdb::Writer::default();
        // Per location and country the sub-maps once; per variant one record pointing at them.
        let country_maps: Vec<u32> = self
            .countries
            .iter()
            .map(|(code, name, id, eu, _)| {
                w.map(|w, m| {
                    w.entry(m, "geoname_id", |w| w.uint(6, *id as u64));
                    if *eu {
                        w.entry(m, "is_in_european_union", |w| w.boolean(true));
                    }
                    w.entry(m, "iso_code", |w| w.string(code));
                    w.entry(m, "names", |w| w.names(name));
                })
            })
            .collect();
        let continent_maps: Vec<u32> = self
            .continents
            .iter()
            .map(|(code, name, id)| {
                w.map(|w, m| {
                    w.entry(m, "code", |w| w.string(code));
                    w.entry(m, "geoname_id", |w| w.uint(6, *id as u64));
                    w.entry(m, "names", |w| w.names(name));
                })
            })
            .collect();
        let city_maps: Vec<Option<(u32, Option<u32>)>> = self
            .locations
            .iter()
            .map(|l| {
                if l.city.is_empty() {
                    return None;
                }
                let city = w.map(|w, m| {
                    w.entry(m, "geoname_id", |w| w.uint(6, l.geoname_id as u64));
                    w.entry(m, "names", |w| w.names(&l.city));
                });
                let subs: Vec<&(String, String)> = l.subdivision.iter().chain(&l.subdivision2).collect();
                let subdivisions = (!subs.is_empty()).then(|| {
                    w.array(subs.len(), |w| {
                        for (code, name) in &subs {
                            w.map(|w, m| {
                                w.entry(m, "iso_code", |w| w.string(code));
                                w.entry(m, "names", |w| w.names(name));
                            });
                        }
                    })
                });
                Some((city, subdivisions))
            })
            .collect();
        let records: Vec<u32> = self
            .variants
            .iter()
            .map(|v| {
                let l = &self.locations[v.location];
                w.map(|w, m| {
                    if let Some((city, _)) = city_maps[v.location] {
                        w.entry(m, "city", |w| w.pointer(city));
                    }
                    w.entry(m, "continent", |w| w.pointer(continent_maps[l.continent]));
                    w.entry(m, "country", |w| w.pointer(country_maps[l.country]));
                    w.entry(m, "location", |w| {
                        w.map(|w, m| {
                            w.entry(m, "accuracy_radius", |w| w.uint(5, v.accuracy as u64));
                            w.entry(m, "latitude", |w| w.double(v.latitude.parse().unwrap_or(0.0)));
                            w.entry(m, "longitude", |w| w.double(v.longitude.parse().unwrap_or(0.0)));
                            if let Some(metro) = l.metro_code {
                                w.entry(m, "metro_code", |w| w.uint(5, metro as u64));
                            }
                            if !l.time_zone.is_empty() {
                                w.entry(m, "time_zone", |w| w.shared_string(&l.time_zone));
                            }
                        })
                    });
                    if !v.postal.is_empty() {
                        w.entry(m, "postal", |w| w.map(|w, m| w.entry(m, "code", |w| w.shared_string(&v.postal))));
                    }
                    let registered = self.locations[v.registered].country;
                    w.entry(m, "registered_country", |w| w.pointer(country_maps[registered]));
                    if let Some(r) = v.represented {
                        w.entry(m, "represented_country", |w| w.pointer(country_maps[self.locations[r].country]));
                    }
                    if let Some((_, Some(subs))) = city_maps[v.location] {
                        w.entry(m, "subdivisions", |w| w.pointer(subs));
                    }
                    if v.proxy || v.satellite {
                        w.entry(m, "traits", |w| {
                            w.map(|w, m| {
                                if v.proxy {
                                    w.entry(m, "is_anonymous_proxy", |w| w.boolean(true));
                                }
                                if v.satellite {
                                    w.entry(m, "is_satellite_provider", |w| w.boolean(true));
                                }
                            })
                        });
                    }
                })
            })
            .collect();
        let mut tree = mmdb::Tree::default();
        for n in &self.v4 {
            tree.insert(n.start as u128, 96 + n.prefix, records[n.variant as usize]);
        }
        for n in &self.v6 {
            tree.insert(n.start, n.prefix, records[n.variant as usize]);
        }
        let file = tree.finish(&w.data, "GeoLite2-City");
        eprintln!("mmdb: {} bytes, of which data {} bytes", file.len(), w.data.len());
        file
    }
}

/// A minimal MaxMind DB (format 2.0) writer (its own file; by path so that tests including
/// this file by path find it too).
#[path = "geolite_mmdb.rs"]
pub mod mmdb;
