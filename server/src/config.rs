//! Command-line flags and the TOML config file, merged into one validated [`Config`].
//!
//! Every flag except `--config` and `--check-config` has a TOML key of the same name with
//! underscores. Precedence: flag, then file, then built-in default (for the log level, `RUST_LOG`
//! sits between the flag and the file, as operators expect the environment to beat a file).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::ops::acl::{Acl, TransferAcl};
pub use crate::ops::logging::LogFormat;
use crate::ops::rrl;

/// Largest batch for recvmmsg/sendmmsg: buffers are sized from it once per worker, and beyond 64
/// the syscall savings are negligible while the latency of the last packet in a batch grows.
pub const MAX_BATCH_SIZE: usize = 64;
/// Upper bound on workers: each holds an LMDB reader slot (the environment has 1024), and the
/// loader and tools need some too.
pub const MAX_THREADS: usize = 512;
pub const DEFAULT_PORT: u16 = 5353;
pub const DEFAULT_MAX_UDP_SIZE: u16 = 1232;
pub const DEFAULT_TCP_IDLE_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_TCP_MAX_CONNECTIONS: usize = 1024;
pub const DEFAULT_TCP_MESSAGE_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_TCP_MAX_PER_SOURCE: usize = 64;
pub const DEFAULT_BATCH_SIZE: usize = 64;
pub const DEFAULT_LOG_LEVEL: &str = "info";
pub const DEFAULT_MAX_TRANSFERS: usize = 8;

/// One `--catalog NAME[=GROUP]`: a generated catalog zone and the group it is limited to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogSpec {
    /// Absolute, lower case.
    pub name: String,
    pub group: Option<String>,
}

impl std::fmt::Display for CatalogSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.group {
            Some(g) => write!(f, "{}={g}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

impl std::str::FromStr for CatalogSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<CatalogSpec, String> {
        let (name, group) = match s.split_once('=') {
            Some((n, g)) if !g.is_empty() => (n, Some(g.to_string())),
            Some(_) => return Err(format!("{s:?}: empty group after '='")),
            None => (s, None),
        };
        let key = lmdb_schema::name::key_from_dotted(name).map_err(|e| format!("{s:?}: {e}"))?;
        if key == lmdb_schema::name::ROOT_KEY {
            return Err(format!("{s:?}: the root cannot be a catalog"));
        }
        Ok(CatalogSpec { name: lmdb_schema::name::key_to_text(&key), group })
    }
}

/// lmdns-server: an authoritative DNS server answering straight from an lmdns LMDB database.
///
/// Every flag except --config and --check-config may also be set in the --config TOML file under
/// the same name with underscores (e.g. `listen = ["127.0.0.1:53"]`, `tcp_idle_timeout = 5`);
/// flags override the file.
#[derive(Parser, Debug, Default, Clone)]
#[command(name = "lmdns-server", version, about, long_about)]
pub struct Cli {
    /// Database directory, created and filled by lmdns-loader; opened read-only.
    #[arg(long, value_name = "DIR")]
    pub db: Option<PathBuf>,

    /// Address to answer on, UDP and TCP; repeat for several. [default: 127.0.0.1:5353 and
    /// [::1]:5353; a default address the host lacks is skipped with a warning, a requested one
    /// that cannot be bound is fatal]. Port 0 picks a free port (the start log line shows it).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Vec<SocketAddr>,

    /// UDP worker threads, each with its own SO_REUSEPORT socket per address. [default: number
    /// of available cores]
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// TOML file with settings; flags given on the command line override its values.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Largest UDP response in bytes, whatever larger size a client advertises with EDNS
    /// (512..=65535). [default: 1232]
    #[arg(long, value_name = "BYTES")]
    pub max_udp_size: Option<u16>,

    /// Seconds a TCP connection may sit without progress before the server closes it.
    /// [default: 10]
    #[arg(long, value_name = "SECS")]
    pub tcp_idle_timeout: Option<u64>,

    /// Concurrent TCP connections. When all are taken, a new connection closes the one idle
    /// the longest (between messages); when all are in the middle of a message, the new one is
    /// closed at once. [default: 1024]
    #[arg(long, value_name = "N")]
    pub tcp_max_connections: Option<usize>,

    /// Milliseconds a TCP message may take once begun: a query to arrive whole, or its answer
    /// to be read by the client. Bytes trickling in do not extend it (slowloris). [default: 2000]
    #[arg(long, value_name = "MS")]
    pub tcp_message_timeout: Option<u64>,

    /// TCP connections one source may hold open (an IPv4 address, an IPv6 /64); more are
    /// closed at once. [default: 64]
    #[arg(long, value_name = "N")]
    pub tcp_max_per_source: Option<usize>,

    /// LMDB map size in bytes: must be at least the database size (the loader's --map-size).
    /// [default: 68719476736, 64 GiB]
    #[arg(long, value_name = "BYTES")]
    pub map_size: Option<usize>,

    /// UDP packets received and sent per recvmmsg/sendmmsg call (1..=64). [default: 64]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,

    /// Pin UDP worker i to CPU core i (sched_setaffinity), for benchmarks and dedicated hosts.
    /// Cores are counted in the process's allowed CPU set, so `taskset -c 2,3 lmdns-server --pin`
    /// puts worker 0 on core 2. With more cores than workers, zone transfers run on the cores
    /// left over, away from the workers. [default: false]
    #[arg(long)]
    pub pin: bool,

    /// Slots of each worker's cache of whole responses (default 4096, rounded up to a power of
    /// two; 0 turns it off). Repeated questions are answered by a copy; the cache is emptied by
    /// every database commit, and answers that depend on the client (ECS, geo variants, whoami)
    /// are never cached.
    #[arg(long, value_name = "SLOTS")]
    pub answer_cache_size: Option<usize>,

    /// Validate the flags and config file, print the effective configuration as TOML and exit
    /// (0 when valid). Does not open the database or bind sockets.
    #[arg(long)]
    pub check_config: bool,

    /// Log filter in tracing/RUST_LOG syntax, e.g. `info` or `lmdns_server=debug`.
    /// [default: RUST_LOG if set, else the file's log_level, else info]
    #[arg(long, value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Log lines on stderr as `text`, or as `json` for log pipelines: one object per line with
    /// timestamp, level, message, the event's fields and target (a fatal error too). The query
    /// log (--query-log) is JSON lines either way. [default: text]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Write one JSON line per answered query to FILE (`-`: stdout): time, client address and
    /// port, protocol, qname, qtype, rcode, AA/TC, response size, ECS subnet. Entries are queued
    /// per worker and dropped (and counted in /metrics) rather than ever slowing queries down.
    /// SIGHUP reopens the file (for logrotate). With --chroot, FILE must be inside DIR.
    #[arg(long, value_name = "FILE")]
    pub query_log: Option<PathBuf>,

    /// Send every answered query as dnstap AUTH_QUERY and AUTH_RESPONSE messages in Frame
    /// Streams: `unix:PATH` to a collector's socket (fstrm_capture, a dnstap collector;
    /// reconnected every second while it is away), or `file:PATH` (created or truncated at
    /// start; read with dnstap-ldns -r). Like the query log, queued per worker and dropped (and
    /// counted in /metrics) rather than ever slowing queries down; messages carry --identity.
    #[arg(long, value_name = "unix:PATH|file:PATH")]
    pub dnstap: Option<String>,

    /// Start as root, open the database and bind every socket, then drop to this user (and its
    /// primary group, no supplementary groups) before serving any query.
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// With --user: chroot to DIR before dropping privileges (the database is already open, it
    /// need not be inside DIR).
    #[arg(long, value_name = "DIR")]
    pub chroot: Option<PathBuf>,

    /// Serve queries as root when started as root without --user (refused otherwise).
    #[arg(long)]
    pub allow_root: bool,

    /// Select geo variants by the EDNS Client Subnet of a query when it carries one (RFC 7871),
    /// and echo the option with its scope; `--ecs false` ignores ECS and uses the source
    /// address. Default true.
    #[arg(long, value_name = "BOOL")]
    pub ecs: Option<bool>,

    /// A name that answers with the client's own address and range metadata: TXT gives JSON
    /// (address, ECS subnet, metadata), A/AAAA give the address. Repeatable. (Whoami names of a
    /// zone, answered from its policy's table with its SOA, are set with `lmdns-loader zone
    /// policy --whoami` instead.)
    #[arg(long, value_name = "NAME")]
    pub whoami: Vec<String>,

    /// Range table whose metadata whoami answers carry. Default `geo`.
    #[arg(long, value_name = "TABLE")]
    pub whoami_table: Option<String>,

    /// A zone that answers IP lookups over DNS: `4.3.2.1.<zone> TXT` gives the metadata of
    /// 1.2.3.4 (IPv6: 32 reversed nibbles, as in ip6.arpa); NXDOMAIN when in no range.
    #[arg(long, value_name = "NAME")]
    pub lookup_zone: Option<String>,

    /// Range table the lookup zone answers from. Default `geo`.
    #[arg(long, value_name = "TABLE")]
    pub lookup_table: Option<String>,

    /// Serve HTTP on ADDR:PORT: `GET /lookup/<ip>[?table=NAME]` returns the range and metadata
    /// of an address as JSON (404 when in no range, 400 for a bad address); `GET /health` is
    /// 200 while the database can be read (503 otherwise); `GET /metrics` is Prometheus text.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,

    /// Response rate limiting over UDP: at most N responses per second of one kind (answer,
    /// NODATA, NXDOMAIN, referral, error) to one client network (/24 for IPv4, /56 for IPv6),
    /// after a burst of N; the excess is dropped or slipped (see --rrl-slip). TCP is never
    /// limited. 0 turns it off. [default: 0]
    #[arg(long, value_name = "N")]
    pub rrl_rate: Option<u32>,

    /// Of the responses over --rrl-rate, every K-th is sent as an empty TC=1 answer so a real
    /// client behind a limited network retries over TCP; the others are dropped. 0 drops all,
    /// 1 slips all (0..=10). [default: 2]
    #[arg(long, value_name = "K")]
    pub rrl_slip: Option<u32>,

    /// Rate for NXDOMAIN responses (see --rrl-rate; 0: not limited). [default: --rrl-rate]
    #[arg(long, value_name = "N")]
    pub rrl_nxdomain_rate: Option<u32>,

    /// Rate for NODATA responses (see --rrl-rate; 0: not limited). [default: --rrl-rate]
    #[arg(long, value_name = "N")]
    pub rrl_nodata_rate: Option<u32>,

    /// Rate for referrals (see --rrl-rate; 0: not limited). [default: --rrl-rate]
    #[arg(long, value_name = "N")]
    pub rrl_referral_rate: Option<u32>,

    /// Rate for error responses: REFUSED, FORMERR, SERVFAIL... (see --rrl-rate; 0: not
    /// limited). [default: --rrl-rate]
    #[arg(long, value_name = "N")]
    pub rrl_error_rate: Option<u32>,

    /// Count and log what rate limiting would stop, but send everything (to size the rates on
    /// real traffic first): lmdns_rrl_would_limit_total, and a log line a minute.
    #[arg(long)]
    pub rrl_log_only: bool,

    /// Buckets in the rate-limit table (64 bytes each), fixed at start: spoofed sources cannot
    /// grow it; (network, kind) pairs that hash to one bucket share its rate. [default: 100000]
    #[arg(long, value_name = "N")]
    pub rrl_table_size: Option<usize>,

    /// The key of DNS server cookies (RFC 7873, RFC 9018), 32 hex digits. Servers given the same
    /// one (an anycast fleet) accept each other's cookies. Clients that return a valid server
    /// cookie are not rate limited. [default: a random key per start]
    #[arg(long, value_name = "HEX")]
    pub cookie_secret: Option<String>,

    /// Answer QTYPE ANY over UDP with an empty TC=1 response, so the client must ask again over
    /// TCP (where it gets the RFC 8482 minimal answer, as over UDP without this flag).
    #[arg(long)]
    pub any_to_tcp: bool,

    /// Networks that may query, as comma-separated CIDRs or addresses (IPv4 and IPv6);
    /// repeatable. Others get REFUSED before any database work. A CIDR with host bits set is an
    /// error. [default: any]
    #[arg(long, value_name = "CIDR,...", value_delimiter = ',')]
    pub allow_query: Vec<String>,

    /// Who may transfer zones (AXFR, IXFR over TCP): comma-separated or repeated entries, each a
    /// network (`CIDR`: unsigned requests from there, and signed ones), a TSIG key (`key:NAME`:
    /// requests signed with that key of the database, from anywhere) or both
    /// (`CIDR+key:NAME`). A request with a bad signature gets NOTAUTH whatever the list says;
    /// one not allowed gets REFUSED. [default: nobody]
    #[arg(long, value_name = "RULE,...", value_delimiter = ',')]
    pub allow_transfer: Vec<String>,

    /// Send NOTIFY (RFC 1996) to ADDR:PORT for every zone whose serial changes, as soon as the
    /// commit is seen (within milliseconds); repeatable. Zones can add their own targets
    /// (`lmdns-loader zone notify`). Unanswered NOTIFYs are retried with backoff, 5 tries.
    #[arg(long, value_name = "ADDR:PORT")]
    pub notify: Vec<SocketAddr>,

    /// Serve a catalog zone (RFC 9432, version 2) named NAME listing every zone of the
    /// database, or with NAME=GROUP only the zones of that catalog group (`lmdns-loader zone
    /// group`); repeatable. Generated from the database on every query: member IDs are stable
    /// (a hash of the zone name), the serial moves with every zone added or removed, AXFR and
    /// IXFR work, NOTIFY goes to the --notify targets. Queries over UDP and TCP are answered.
    #[arg(long, value_name = "NAME[=GROUP]")]
    pub catalog: Vec<String>,

    /// Zone transfers served at once (each on its own thread with its own snapshot of the
    /// database); a transfer requested while all are busy waits for one, up to as many again
    /// in the queue, beyond that it gets SERVFAIL. [default: 8]
    #[arg(long, value_name = "N")]
    pub max_transfers: Option<usize>,

    /// Answer `CH TXT id.server` and `CH TXT hostname.bind` (RFC 4892) with TEXT, at most 255
    /// bytes. [default: off: those queries get REFUSED, like any class but IN]
    #[arg(long, value_name = "TEXT")]
    pub identity: Option<String>,

    /// Answer `CH TXT version.bind` and `CH TXT version.server` with TEXT, at most 255 bytes.
    /// [default: off: REFUSED]
    #[arg(long, value_name = "TEXT")]
    pub server_version: Option<String>,

    /// The name server identifier of EDNS NSID (RFC 5001): sent to queries that ask for it
    /// (`dig +nsid`) in every answer with EDNS, so a client behind anycast learns which node
    /// answered. TEXT is sent as its bytes; `0x` and hex digits give raw bytes. At most 512 bytes.
    /// [default: off: the option is ignored]
    #[arg(long, value_name = "TEXT|0xHEX")]
    pub nsid: Option<String>,
}

/// The command line's definition, for man pages and shell completions (`lmdns-docgen`).
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The config file: the same settings as the flags, all optional. Unknown keys are an error so a
/// typo never silently falls back to a default.
#[derive(Deserialize, Serialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<Vec<SocketAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_udp_size: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_idle_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_max_connections: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_message_timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_max_per_source: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_log: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnstap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chroot: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_root: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecs: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whoami: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whoami_table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lookup_table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_slip: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_table_size: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_nxdomain_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_nodata_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_referral_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_error_rate: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rrl_log_only: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub any_to_tcp: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_query: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_transfer: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify: Option<Vec<SocketAddr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_transfers: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nsid: Option<String>,
    pub pin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_cache_size: Option<usize>,
}

impl FileConfig {
    pub fn load(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        // toml's error for deny_unknown_fields names the key ("unknown field `x`") and its line.
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// The effective, validated settings the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub db: PathBuf,
    pub listen: Vec<SocketAddr>,
    /// True when `listen` came from a flag or the file: then every address must bind. The
    /// defaults tolerate a host without IPv6 loopback.
    pub listen_explicit: bool,
    pub threads: usize,
    pub max_udp_size: u16,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub tcp_message_timeout: Duration,
    pub tcp_max_per_source: usize,
    pub map_size: usize,
    pub batch_size: usize,
    pub log_level: String,
    pub log_format: LogFormat,
    /// Query log path, `-` for stdout.
    pub query_log: Option<PathBuf>,
    pub dnstap: Option<crate::ops::dnstap::Target>,
    pub user: Option<String>,
    pub chroot: Option<PathBuf>,
    pub allow_root: bool,
    pub ecs: bool,
    /// whoami names, absolute, lower case.
    pub whoami: Vec<String>,
    pub whoami_table: String,
    /// The IP-lookup zone, absolute, lower case.
    pub lookup_zone: Option<String>,
    pub lookup_table: String,
    pub http: Option<SocketAddr>,
    /// Responses per second per (client network, kind) over UDP; 0 = no rate limiting.
    pub rrl_rate: u32,
    pub rrl_slip: u32,
    pub rrl_table_size: usize,
    /// Per kind (answer, NODATA, NXDOMAIN, referral, error); 0: not limited.
    pub rrl_kind_rates: crate::ops::rrl::KindRates,
    pub rrl_log_only: bool,
    /// 32 hex digits; None: a random secret.
    pub cookie_secret: Option<String>,
    pub any_to_tcp: bool,
    pub allow_query: Acl,
    pub allow_transfer: TransferAcl,
    /// NOTIFY targets for every zone.
    pub notify: Vec<SocketAddr>,
    /// Generated catalog zones.
    pub catalog: Vec<CatalogSpec>,
    pub max_transfers: usize,
    /// Pin UDP worker i to the i-th allowed CPU.
    pub pin: bool,
    /// Slots of each worker's answer cache (0: off).
    pub answer_cache_size: usize,
    /// The CH TXT answer of id.server and hostname.bind; None: REFUSED.
    pub identity: Option<String>,
    /// The CH TXT answer of version.bind and version.server; None: REFUSED.
    pub server_version: Option<String>,
    /// NSID as given (text, or 0x and hex); see [`Config::nsid_bytes`].
    pub nsid: Option<String>,
}

impl Config {
    /// Merges flags over the file named by `--config` (if any) over defaults, and validates.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Config> {
        let file = match &cli.config {
            Some(path) => FileConfig::load(path)?,
            None => FileConfig::default(),
        };
        let env_log = std::env::var("RUST_LOG").ok().filter(|s| !s.trim().is_empty());
        Config::merge(cli, file, env_log)
    }

    /// The pure part of [`Config::from_cli`]: `env_log` is RUST_LOG.
    pub fn merge(cli: &Cli, file: FileConfig, env_log: Option<String>) -> anyhow::Result<Config> {
        let db = cli.db.clone().or(file.db).context("no database given: pass --db DIR (or set db in the config file)")?;
        let (listen, listen_explicit) = if !cli.listen.is_empty() {
            (cli.listen.clone(), true)
        } else if let Some(listen) = file.listen {
            ensure!(!listen.is_empty(), "listen in the config file is empty: give at least one ADDR:PORT");
            (listen, true)
        } else {
            (default_listen(), false)
        };
        let mut unique = listen.clone();
        unique.sort();
        unique.dedup();
        ensure!(unique.len() == listen.len(), "listen names the same address twice");

        let threads = match cli.threads.or(file.threads) {
            Some(n) => n,
            None => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(MAX_THREADS),
        };
        ensure!((1..=MAX_THREADS).contains(&threads), "threads must be between 1 and {MAX_THREADS}, got {threads}");

        let max_udp_size = cli.max_udp_size.or(file.max_udp_size).unwrap_or(DEFAULT_MAX_UDP_SIZE);
        ensure!(max_udp_size >= 512, "max_udp_size must be between 512 and 65535 (RFC 1035 guarantees 512), got {max_udp_size}");

        let idle = cli.tcp_idle_timeout.or(file.tcp_idle_timeout).unwrap_or(DEFAULT_TCP_IDLE_TIMEOUT_SECS);
        ensure!((1..=86_400).contains(&idle), "tcp_idle_timeout must be between 1 and 86400 seconds, got {idle}");

        let tcp_max_connections = cli.tcp_max_connections.or(file.tcp_max_connections).unwrap_or(DEFAULT_TCP_MAX_CONNECTIONS);
        ensure!(
            (1..=1_000_000).contains(&tcp_max_connections),
            "tcp_max_connections must be between 1 and 1000000, got {tcp_max_connections}"
        );

        let tcp_message_timeout = cli.tcp_message_timeout.or(file.tcp_message_timeout).unwrap_or(DEFAULT_TCP_MESSAGE_TIMEOUT_MS);
        ensure!(
            (10..=600_000).contains(&tcp_message_timeout),
            "tcp_message_timeout must be between 10 and 600000 milliseconds, got {tcp_message_timeout}"
        );
        let tcp_max_per_source = cli.tcp_max_per_source.or(file.tcp_max_per_source).unwrap_or(DEFAULT_TCP_MAX_PER_SOURCE);
        ensure!(
            (1..=1_000_000).contains(&tcp_max_per_source),
            "tcp_max_per_source must be between 1 and 1000000, got {tcp_max_per_source}"
        );

        let map_size = cli.map_size.or(file.map_size).unwrap_or(lmdb_schema::DEFAULT_MAP_SIZE);
        ensure!(map_size > 0, "map_size must be positive");

        let batch_size = cli.batch_size.or(file.batch_size).unwrap_or(DEFAULT_BATCH_SIZE);
        ensure!((1..=MAX_BATCH_SIZE).contains(&batch_size), "batch_size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}");

        let log_level = cli.log_level.clone().or(env_log).or(file.log_level).unwrap_or_else(|| DEFAULT_LOG_LEVEL.to_string());
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&log_level) {
            bail!("invalid log level {log_level:?}: {e}");
        }
        let log_format = cli.log_format.or(file.log_format).unwrap_or_default();
        let query_log = cli.query_log.clone().or(file.query_log);
        let dnstap = cli
            .dnstap
            .clone()
            .or(file.dnstap)
            .map(|t| t.parse::<crate::ops::dnstap::Target>())
            .transpose()
            .map_err(|e| anyhow::anyhow!("dnstap: {e}"))?;
        let user = cli.user.clone().or(file.user);
        let chroot = cli.chroot.clone().or(file.chroot);
        let allow_root = cli.allow_root || file.allow_root.unwrap_or(false);
        ensure!(query_log.as_ref().is_none_or(|p| !p.as_os_str().is_empty()), "query_log is empty: give a file or - for stdout");
        ensure!(user.as_ref().is_none_or(|u| !u.is_empty()), "user is empty: give a user name");
        if let Some(dir) = &chroot {
            ensure!(user.is_some(), "chroot needs user: --chroot only makes sense together with --user");
            ensure!(dir.is_absolute(), "chroot must be an absolute path, got {}", dir.display());
            if let Some(log) = query_log.as_ref().filter(|p| p.as_os_str() != "-") {
                ensure!(
                    log.is_absolute() && log.starts_with(dir),
                    "query_log {} must be inside the chroot {} (it is reopened from there on SIGHUP)",
                    log.display(),
                    dir.display()
                );
            }
        }

        let ecs = cli.ecs.or(file.ecs).unwrap_or(true);
        let whoami = if cli.whoami.is_empty() { file.whoami.unwrap_or_default() } else { cli.whoami.clone() };
        let whoami = whoami.iter().map(|n| absolute_name(n)).collect::<anyhow::Result<Vec<_>>>()?;
        let whoami_table = cli.whoami_table.clone().or(file.whoami_table).unwrap_or_else(|| lmdb_schema::ranges::DEFAULT_TABLE.into());
        let lookup_zone = cli.lookup_zone.clone().or(file.lookup_zone).map(|n| absolute_name(&n)).transpose()?;
        let lookup_table = cli.lookup_table.clone().or(file.lookup_table).unwrap_or_else(|| lmdb_schema::ranges::DEFAULT_TABLE.into());
        for table in [&whoami_table, &lookup_table] {
            lmdb_schema::ranges::validate_table_name(table).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let http = cli.http.or(file.http);
        let rrl_rate = cli.rrl_rate.or(file.rrl_rate).unwrap_or(0);
        ensure!(rrl_rate <= rrl::MAX_RATE, "rrl_rate must be between 0 (off) and {}, got {rrl_rate}", rrl::MAX_RATE);
        let rrl_slip = cli.rrl_slip.or(file.rrl_slip).unwrap_or(rrl::DEFAULT_SLIP);
        ensure!(rrl_slip <= rrl::MAX_SLIP, "rrl_slip must be between 0 and {}, got {rrl_slip}", rrl::MAX_SLIP);
        let rrl_table_size = cli.rrl_table_size.or(file.rrl_table_size).unwrap_or(rrl::DEFAULT_TABLE_SIZE);
        ensure!(
            (1..=rrl::MAX_TABLE_SIZE).contains(&rrl_table_size),
            "rrl_table_size must be between 1 and {}, got {rrl_table_size}",
            rrl::MAX_TABLE_SIZE
        );
        let kind_rate = |cli: Option<u32>, file: Option<u32>, key: &str| -> anyhow::Result<u32> {
            let rate = cli.or(file).unwrap_or(rrl_rate);
            ensure!(rate <= rrl::MAX_RATE, "{key} must be between 0 (not limited) and {}, got {rate}", rrl::MAX_RATE);
            Ok(rate)
        };
        let rrl_kind_rates = [
            rrl_rate,
            kind_rate(cli.rrl_nodata_rate, file.rrl_nodata_rate, "rrl_nodata_rate")?,
            kind_rate(cli.rrl_nxdomain_rate, file.rrl_nxdomain_rate, "rrl_nxdomain_rate")?,
            kind_rate(cli.rrl_referral_rate, file.rrl_referral_rate, "rrl_referral_rate")?,
            kind_rate(cli.rrl_error_rate, file.rrl_error_rate, "rrl_error_rate")?,
        ];
        let rrl_log_only = cli.rrl_log_only || file.rrl_log_only.unwrap_or(false);
        let cookie_secret = cli.cookie_secret.clone().or(file.cookie_secret.clone());
        if let Some(hex) = &cookie_secret {
            crate::answer::cookie::CookieSecret::from_hex(hex).map_err(|e| anyhow::anyhow!("cookie_secret: {e}"))?;
        }
        let any_to_tcp = cli.any_to_tcp || file.any_to_tcp.unwrap_or(false);
        let acl = |flag: &[String], file: Option<Vec<String>>, key: &str, default: Acl| -> anyhow::Result<Acl> {
            let items = if flag.is_empty() { file } else { Some(flag.to_vec()) };
            match items {
                Some(items) => Acl::parse(&items).map_err(|e| anyhow::anyhow!("invalid {key}: {e}")),
                None => Ok(default),
            }
        };
        let allow_query = acl(&cli.allow_query, file.allow_query, "allow_query", Acl::any())?;
        let allow_transfer = {
            let items = if cli.allow_transfer.is_empty() { file.allow_transfer } else { Some(cli.allow_transfer.clone()) };
            TransferAcl::parse(&items.unwrap_or_default()).map_err(|e| anyhow::anyhow!("invalid allow_transfer: {e}"))?
        };
        let notify = if cli.notify.is_empty() { file.notify.unwrap_or_default() } else { cli.notify.clone() };
        let catalog = if cli.catalog.is_empty() { file.catalog.unwrap_or_default() } else { cli.catalog.clone() };
        let catalog = catalog
            .iter()
            .map(|c| c.parse::<CatalogSpec>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("invalid catalog: {e}"))?;
        let max_transfers = cli.max_transfers.or(file.max_transfers).unwrap_or(DEFAULT_MAX_TRANSFERS);
        ensure!((1..=256).contains(&max_transfers), "max_transfers must be between 1 and 256, got {max_transfers}");
        // A flag can only turn pinning on; `pin = false` in the file is the default anyway.
        let pin = cli.pin || file.pin.unwrap_or(false);
        let answer_cache_size = cli.answer_cache_size.or(file.answer_cache_size).unwrap_or(crate::engine::DEFAULT_ANSWER_CACHE_SLOTS);
        ensure!(answer_cache_size <= 1 << 20, "answer_cache_size must be between 0 (off) and 1048576, got {answer_cache_size}");
        let identity = cli.identity.clone().or(file.identity);
        let server_version = cli.server_version.clone().or(file.server_version);
        for (key, text) in [("identity", &identity), ("server_version", &server_version)] {
            if let Some(text) = text {
                // One TXT character-string: what every client prints as one quoted string.
                ensure!(
                    !text.is_empty() && text.len() <= 255,
                    "{key} must be 1 to 255 bytes (one TXT string), got {}; leave it out to refuse the query",
                    text.len()
                );
            }
        }
        let nsid = cli.nsid.clone().or(file.nsid);
        if let Some(nsid) = &nsid {
            nsid_bytes(nsid)?;
        }

        Ok(Config {
            db,
            listen,
            listen_explicit,
            threads,
            max_udp_size,
            tcp_idle_timeout: Duration::from_secs(idle),
            tcp_max_connections,
            tcp_message_timeout: Duration::from_millis(tcp_message_timeout),
            tcp_max_per_source,
            map_size,
            batch_size,
            log_level,
            log_format,
            query_log,
            dnstap,
            user,
            chroot,
            allow_root,
            ecs,
            whoami,
            whoami_table,
            lookup_zone,
            lookup_table,
            http,
            rrl_rate,
            rrl_slip,
            rrl_table_size,
            rrl_kind_rates,
            rrl_log_only,
            cookie_secret,
            any_to_tcp,
            allow_query,
            allow_transfer,
            notify,
            catalog,
            max_transfers,
            pin,
            answer_cache_size,
            identity,
            server_version,
            nsid,
        })
    }

    /// The effective configuration as a complete config file (what `--check-config` prints).
    pub fn to_toml(&self) -> String {
        let file = FileConfig {
            db: Some(self.db.clone()),
            listen: Some(self.listen.clone()),
            threads: Some(self.threads),
            max_udp_size: Some(self.max_udp_size),
            tcp_idle_timeout: Some(self.tcp_idle_timeout.as_secs()),
            tcp_max_connections: Some(self.tcp_max_connections),
            tcp_message_timeout: Some(self.tcp_message_timeout.as_millis() as u64),
            tcp_max_per_source: Some(self.tcp_max_per_source),
            map_size: Some(self.map_size),
            batch_size: Some(self.batch_size),
            log_level: Some(self.log_level.clone()),
            log_format: Some(self.log_format),
            query_log: self.query_log.clone(),
            dnstap: self.dnstap.as_ref().map(ToString::to_string),
            user: self.user.clone(),
            chroot: self.chroot.clone(),
            allow_root: Some(self.allow_root),
            ecs: Some(self.ecs),
            whoami: Some(self.whoami.clone()),
            whoami_table: Some(self.whoami_table.clone()),
            lookup_zone: self.lookup_zone.clone(),
            lookup_table: Some(self.lookup_table.clone()),
            http: self.http,
            rrl_rate: Some(self.rrl_rate),
            rrl_slip: Some(self.rrl_slip),
            rrl_table_size: Some(self.rrl_table_size),
            rrl_nodata_rate: Some(self.rrl_kind_rates[1]),
            rrl_nxdomain_rate: Some(self.rrl_kind_rates[2]),
            rrl_referral_rate: Some(self.rrl_kind_rates[3]),
            rrl_error_rate: Some(self.rrl_kind_rates[4]),
            rrl_log_only: Some(self.rrl_log_only),
            cookie_secret: self.cookie_secret.clone(),
            any_to_tcp: Some(self.any_to_tcp),
            allow_query: Some(self.allow_query.to_strings()),
            allow_transfer: Some(self.allow_transfer.to_strings()),
            notify: Some(self.notify.clone()),
            catalog: Some(self.catalog.iter().map(CatalogSpec::to_string).collect()),
            max_transfers: Some(self.max_transfers),
            pin: Some(self.pin),
            answer_cache_size: Some(self.answer_cache_size),
            identity: self.identity.clone(),
            server_version: self.server_version.clone(),
            nsid: self.nsid.clone(),
        };
        toml::to_string(&file).expect("a flat struct of strings and integers serializes")
    }
}

/// The NSID bytes of `--nsid`: `0x` and an even number of hex digits give raw bytes (the form
/// Knot takes), anything else is sent as its own bytes.
pub fn nsid_bytes(nsid: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = match nsid.strip_prefix("0x").or_else(|| nsid.strip_prefix("0X")) {
        Some(digits) => hex::decode(digits).map_err(|e| anyhow::anyhow!("nsid {nsid:?}: not hex after 0x ({e})"))?,
        None => nsid.as_bytes().to_vec(),
    };
    ensure!(!bytes.is_empty() && bytes.len() <= 512, "nsid must be 1 to 512 bytes, got {}", bytes.len());
    Ok(bytes)
}

/// A DNS name from a flag, checked, absolute and lower case.
fn absolute_name(name: &str) -> anyhow::Result<String> {
    let name = name.trim().to_ascii_lowercase();
    let name = if name.ends_with('.') { name } else { format!("{name}.") };
    for label in name.trim_end_matches('.').split('.') {
        ensure!(!label.is_empty() && label.len() <= 63, "{name:?} is not a valid DNS name");
    }
    ensure!(name.len() <= 254, "{name:?} is longer than 255 octets");
    Ok(name)
}

pub fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::new(Ipv4Addr::LOCALHOST.into(), DEFAULT_PORT), SocketAddr::new(Ipv6Addr::LOCALHOST.into(), DEFAULT_PORT)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("lmdns-server").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults() {
        let c = Config::merge(&cli(&["--db", "/d"]), FileConfig::default(), None).unwrap();
        assert_eq!(c.listen, default_listen());
        assert!(!c.listen_explicit);
        assert_eq!((c.max_udp_size, c.batch_size, c.tcp_max_connections), (1232, 64, 1024));
        assert_eq!(c.tcp_idle_timeout, Duration::from_secs(10));
        assert_eq!(c.map_size, lmdb_schema::DEFAULT_MAP_SIZE);
        assert!(c.threads >= 1);
        assert_eq!(c.log_level, "info");
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(!c.pin);
    }

    #[test]
    fn pin_from_flag_or_file() {
        assert!(Config::merge(&cli(&["--db", "/d", "--pin"]), FileConfig::default(), None).unwrap().pin);
        let file: FileConfig = toml::from_str("db = \"/f\"\npin = true").unwrap();
        assert!(Config::merge(&cli(&[]), file, None).unwrap().pin);
        let file: FileConfig = toml::from_str("db = \"/f\"\npin = false").unwrap();
        assert!(!Config::merge(&cli(&[]), file, None).unwrap().pin);
    }

    #[test]
    fn flags_override_file_and_env_sits_between() {
        let file: FileConfig =
            toml::from_str("db = \"/f\"\nthreads = 4\nbatch_size = 32\nlisten = [\"127.0.0.1:53\"]\nlog_level = \"warn\"").unwrap();
        let c = Config::merge(&cli(&["--threads", "3"]), file.clone(), Some("debug".into())).unwrap();
        assert_eq!((c.threads, c.batch_size), (3, 32));
        assert_eq!(c.db, PathBuf::from("/f"));
        assert!(c.listen_explicit);
        assert_eq!(c.log_level, "debug");
        let c = Config::merge(&cli(&["--log-level", "error"]), file.clone(), Some("debug".into())).unwrap();
        assert_eq!(c.log_level, "error");
        let c = Config::merge(&cli(&[]), file, None).unwrap();
        assert_eq!(c.log_level, "warn");
        let file: FileConfig = toml::from_str("db = \"/f\"\nlog_format = \"json\"").unwrap();
        assert_eq!(Config::merge(&cli(&[]), file.clone(), None).unwrap().log_format, LogFormat::Json);
        assert_eq!(Config::merge(&cli(&["--log-format", "text"]), file, None).unwrap().log_format, LogFormat::Text);
        assert!(toml::from_str::<FileConfig>("log_format = \"xml\"").is_err());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = toml::from_str::<FileConfig>("threds = 2").unwrap_err().to_string();
        assert!(err.contains("threds"), "{err}");
    }

    #[test]
    fn limits_are_checked() {
        for args in [
            &["--batch-size", "65"][..],
            &["--batch-size", "0"],
            &["--threads", "0"],
            &["--max-udp-size", "511"],
            &["--tcp-idle-timeout", "0"],
        ] {
            let mut all = vec!["--db", "/d"];
            all.extend_from_slice(args);
            assert!(Config::merge(&cli(&all), FileConfig::default(), None).is_err(), "{args:?}");
        }
        assert!(Config::merge(&cli(&[]), FileConfig::default(), None).unwrap_err().to_string().contains("--db"));
    }

    #[test]
    fn printed_config_reads_back() {
        let c =
            Config::merge(&cli(&["--db", "/d", "--listen", "[::1]:53", "--threads", "2", "--pin"]), FileConfig::default(), None).unwrap();
        let back: FileConfig = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(Config::merge(&cli(&[]), back, None).unwrap(), c);
    }

    #[test]
    fn abuse_flags() {
        let c = Config::merge(&cli(&["--db", "/d"]), FileConfig::default(), None).unwrap();
        assert_eq!((c.rrl_rate, c.rrl_slip, c.rrl_table_size, c.any_to_tcp), (0, 2, 100_000, false));
        assert_eq!((c.allow_query.clone(), c.allow_transfer.clone()), (Acl::any(), TransferAcl::none()));
        let args = [
            "--db",
            "/d",
            "--listen",
            "127.0.0.1:53",
            "--rrl-rate",
            "50",
            "--rrl-slip",
            "3",
            "--rrl-table-size",
            "1000",
            "--any-to-tcp",
            "--allow-query",
            "127.0.1.0/24,::1",
            "--allow-query",
            "10.0.0.0/8",
            "--allow-transfer",
            "192.0.2.1",
        ];
        let c = Config::merge(&cli(&args), FileConfig::default(), None).unwrap();
        assert_eq!((c.rrl_rate, c.rrl_slip, c.rrl_table_size, c.any_to_tcp), (50, 3, 1000, true));
        assert_eq!(c.allow_query, Acl::parse(&["10.0.0.0/8", "127.0.1.0/24", "::1/128"]).unwrap());
        assert_eq!(c.allow_transfer.to_strings(), ["192.0.2.1/32"]);
        let text = c.to_toml();
        for key in ["rrl_rate = 50", "rrl_slip = 3", "rrl_table_size = 1000", "any_to_tcp = true", "allow_query = [", "allow_transfer = ["]
        {
            assert!(text.contains(key), "{key} missing from {text}");
        }
        let back: FileConfig = toml::from_str(&text).unwrap();
        assert_eq!(Config::merge(&cli(&[]), back, None).unwrap(), c);

        let file: FileConfig =
            toml::from_str("db = \"/f\"\nrrl_rate = 7\nany_to_tcp = true\nallow_query = [\"2001:db8::/32\"]\nallow_transfer = []").unwrap();
        let c = Config::merge(&cli(&["--rrl-rate", "9"]), file, None).unwrap();
        assert_eq!((c.rrl_rate, c.any_to_tcp), (9, true));
        assert_eq!(c.allow_query.to_strings(), ["2001:db8::/32"]);
        assert_eq!(c.allow_transfer, TransferAcl::none());

        let err = Config::merge(&cli(&["--db", "/d", "--allow-query", "127.0.0.1/8"]), FileConfig::default(), None).unwrap_err();
        assert!(err.to_string().contains("allow_query") && err.to_string().contains("127.0.0.1/8"), "{err}");
        let err = Config::merge(&cli(&["--db", "/d", "--allow-transfer", "2001:db8::1/32"]), FileConfig::default(), None).unwrap_err();
        assert!(err.to_string().contains("allow_transfer") && err.to_string().contains("2001:db8::1/32"), "{err}");
        for bad in [&["--rrl-slip", "11"][..], &["--rrl-table-size", "0"], &["--rrl-rate", "1000001"]] {
            let mut all = vec!["--db", "/d"];
            all.extend_from_slice(bad);
            assert!(Config::merge(&cli(&all), FileConfig::default(), None).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn identity_texts_and_nsid_forms() {
        assert_eq!(nsid_bytes("ns1").unwrap(), b"ns1");
        assert_eq!(nsid_bytes("0x6E7331").unwrap(), b"ns1");
        assert_eq!(nsid_bytes("0XFF00").unwrap(), [0xFF, 0]);
        assert!(nsid_bytes("0x6").unwrap_err().to_string().contains("not hex after 0x"));
        assert!(nsid_bytes("0x").is_err());
        let c = Config::merge(
            &cli(&["--db", "/d", "--identity", "ns1", "--server-version", "v 1", "--nsid", "0xab"]),
            FileConfig::default(),
            None,
        )
        .unwrap();
        assert_eq!((c.identity.as_deref(), c.server_version.as_deref(), c.nsid.as_deref()), (Some("ns1"), Some("v 1"), Some("0xab")));
        // --check-config prints them, and the printed file reads back the same.
        let file: FileConfig = toml::from_str(&c.to_toml()).unwrap();
        let back = Config::merge(&cli(&["--db", "/d"]), file, None).unwrap();
        assert_eq!((back.identity, back.server_version, back.nsid), (c.identity.clone(), c.server_version.clone(), c.nsid.clone()));
        let off = Config::merge(&cli(&["--db", "/d"]), FileConfig::default(), None).unwrap();
        assert_eq!((off.identity, off.server_version, off.nsid), (None, None, None), "off by default");
    }

    /// Every flag has a help text, and no help shows an internal name.
    #[test]
    fn help_explains_every_flag() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let mut missing = Vec::new();
        for arg in Cli::command().get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                missing.push(format!("{id}: no help"));
            }
            // A Rust path (`crate::CONST`), not an IPv6 address like [::1].
            let rust_path = help.as_bytes().windows(3).any(|w| w[0].is_ascii_alphabetic() && w[1] == b':' && w[2] == b':');
            if rust_path {
                missing.push(format!("{id}: an internal name in the help"));
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }
}
