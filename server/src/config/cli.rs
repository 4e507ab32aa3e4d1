//! The command line (clap): every flag, with the help text `--help` and the man page show.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use super::LogFormat;

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

    /// Let the kernel fragment UDP responses longer than the path. By default none is (RFC
    /// 9715): IPv4 responses leave with the DF bit set, IPv6 ones never carry a fragment header,
    /// ICMP "fragmentation needed" is ignored (a forged one cannot shrink what clients get), and
    /// a response longer than the outgoing interface's MTU is sent truncated (TC=1), so the
    /// client asks again over TCP. With the default --max-udp-size of 1232 every response fits
    /// any path with an MTU of 1280 or more. [default: false]
    #[arg(long)]
    pub udp_fragments: bool,

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

    /// Slots of each worker's cache of whole responses (default 16384, rounded up to a power of
    /// two; 0 turns it off). Repeated questions are answered by a copy; a database commit retires
    /// only the answers of the zones it changed (all of them when it creates or deletes a zone),
    /// and answers that depend on the client (ECS, geo variants, whoami) are never cached. While
    /// fewer than 10 % of a worker's lookups hit (one-off questions, a random-subdomain flood),
    /// the cache stands aside and consults one question in 16.
    #[arg(long, value_name = "SLOTS")]
    pub answer_cache_size: Option<usize>,

    /// Slots of each worker's memo of name lookups (64 bytes each, rounded up to a power of two;
    /// 0 turns it off). Default: twice the number of zones, between 16384 (1 MiB) and 262144
    /// (16 MiB per worker), counted at start and again after each commit; it grows, never
    /// shrinks. A name looked up again while no commit has landed costs a hash and a look at
    /// one set of four slots instead of a B-tree search: zone apexes (the SOA of every NXDOMAIN
    /// and NODATA), wildcard nodes, hot hosts. Any commit empties it at once.
    #[arg(long, value_name = "SLOTS")]
    pub name_cache_size: Option<usize>,

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
