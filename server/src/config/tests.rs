//! The flags, the config file and their merge: defaults, precedence, validation.

use super::*;
use clap::Parser;

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
    assert!(!c.udp_fragments, "UDP responses are not fragmented unless asked (RFC 9715)");
}

#[test]
fn udp_fragments_from_flag_or_file_and_printed() {
    let c = Config::merge(&cli(&["--db", "/d", "--udp-fragments"]), FileConfig::default(), None).unwrap();
    assert!(c.udp_fragments);
    assert!(c.to_toml().contains("udp_fragments = true"), "{}", c.to_toml());
    let file: FileConfig = toml::from_str("db = \"/f\"\nudp_fragments = true").unwrap();
    assert!(Config::merge(&cli(&[]), file, None).unwrap().udp_fragments);
    let c = Config::merge(&cli(&["--db", "/d"]), FileConfig::default(), None).unwrap();
    assert!(c.to_toml().contains("udp_fragments = false"), "{}", c.to_toml());
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
    for args in
        [&["--batch-size", "65"][..], &["--batch-size", "0"], &["--threads", "0"], &["--max-udp-size", "511"], &["--tcp-idle-timeout", "0"]]
    {
        let mut all = vec!["--db", "/d"];
        all.extend_from_slice(args);
        assert!(Config::merge(&cli(&all), FileConfig::default(), None).is_err(), "{args:?}");
    }
    assert!(Config::merge(&cli(&[]), FileConfig::default(), None).unwrap_err().to_string().contains("--db"));
}

#[test]
fn name_memo_is_sized_by_the_zones_unless_set() {
    let unset = Config::merge(&cli(&["--db", "/d"]), FileConfig::default(), None).unwrap();
    assert_eq!(unset.name_cache_size, None);
    assert!(!unset.to_toml().contains("name_cache_size"), "an unset size prints as unset, so it reads back as automatic");
    assert_eq!(
        Config::merge(&cli(&["--db", "/d", "--name-cache-size", "0"]), FileConfig::default(), None).unwrap().name_cache_size,
        Some(0)
    );
    let file: FileConfig = toml::from_str("db = \"/f\"\nname_cache_size = 4096").unwrap();
    let set = Config::merge(&cli(&[]), file, None).unwrap();
    assert_eq!(set.name_cache_size, Some(4096));
    assert_eq!(Config::merge(&cli(&[]), toml::from_str(&set.to_toml()).unwrap(), None).unwrap().name_cache_size, Some(4096));
    assert!(Config::merge(&cli(&["--db", "/d", "--name-cache-size", "4194305"]), FileConfig::default(), None).is_err());
    use crate::engine::{auto_name_cache_slots, DEFAULT_NAME_CACHE_SLOTS, MAX_AUTO_NAME_CACHE_SLOTS};
    for (zones, slots) in [(0, DEFAULT_NAME_CACHE_SLOTS), (1_000, 16_384), (8_192, 16_384), (8_193, 32_768), (100_000, 262_144)] {
        assert_eq!(auto_name_cache_slots(zones), slots, "{zones} zones");
    }
    assert_eq!(auto_name_cache_slots(u64::MAX), MAX_AUTO_NAME_CACHE_SLOTS);
}

#[test]
fn printed_config_reads_back() {
    let c = Config::merge(&cli(&["--db", "/d", "--listen", "[::1]:53", "--threads", "2", "--pin"]), FileConfig::default(), None).unwrap();
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
    for key in ["rrl_rate = 50", "rrl_slip = 3", "rrl_table_size = 1000", "any_to_tcp = true", "allow_query = [", "allow_transfer = ["] {
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
    let c =
        Config::merge(&cli(&["--db", "/d", "--identity", "ns1", "--server-version", "v 1", "--nsid", "0xab"]), FileConfig::default(), None)
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
