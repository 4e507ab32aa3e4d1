//! Command-line flags and the TOML config file, merged into one validated [`Config`].
//!
//! Every flag except `--config` and `--check-config` has a TOML key of the same name with
//! underscores. Precedence: flag, then file, then built-in default (for the log level, `RUST_LOG`
//! sits between the flag and the file, as operators expect the environment to beat a file).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use serde::{Deserialize, Serialize};

mod cli;

pub use cli::{command, Cli};

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
    pub udp_fragments: Option<bool>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_cache_size: Option<usize>,
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
    /// Let the kernel fragment UDP responses (see `transport::udp`).
    pub udp_fragments: bool,
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
    /// Slots of each worker's name memo (0: off; None: sized by the zone count, at start and as
    /// commits add zones, see [`crate::engine::auto_name_cache_slots`]).
    pub name_cache_size: Option<usize>,
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
        // A flag can only allow fragments; `udp_fragments = false` in the file is the default.
        let udp_fragments = cli.udp_fragments || file.udp_fragments.unwrap_or(false);

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
        let name_cache_size = cli.name_cache_size.or(file.name_cache_size);
        if let Some(n) = name_cache_size {
            ensure!(n <= 1 << 22, "name_cache_size must be between 0 (off) and 4194304, got {n}");
        }
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
            udp_fragments,
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
            name_cache_size,
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
            udp_fragments: Some(self.udp_fragments),
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
            name_cache_size: self.name_cache_size,
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
mod tests;
