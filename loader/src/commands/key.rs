//! `lmdns-loader key ...`: TSIG keys (RFC 8945) in the database, where the server and every
//! writer find them; a key added is live at the server's next request.
//!
//! Secrets are never printed but once, by `key add` when it generates one (in the key-file
//! format peers read). A secret given on the command line shows in `ps` and in shell history:
//! pass `-` to read it from standard input, or use `key import FILE`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Subcommand;
use lmdb_schema::keys::StoredKey;
use lmdb_schema::{name, Store};
use lmdns_proto::keyfile;
use lmdns_proto::tsig::Algorithm;

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a TSIG key. Without SECRET, a random secret as long as the algorithm's digest is
    /// generated and the key is printed in the format `tsig-keygen` writes, ready for the
    /// peer's configuration (the only time the secret is shown).
    Add {
        /// Key name, e.g. `xfr.example.` (a domain name; a missing final dot is implied).
        #[arg(value_name = "NAME")]
        name: String,
        /// hmac-sha256, hmac-sha512, hmac-sha384, or hmac-sha1 (for old peers only).
        #[arg(value_name = "ALG")]
        algorithm: String,
        /// The secret, base64. `-` reads it from standard input (a secret on the command line
        /// is visible in `ps`).
        #[arg(value_name = "SECRET_BASE64")]
        secret: Option<String>,
        /// Replace a key of that name instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// Add every key of a key file in the format `tsig-keygen` writes and BIND reads
    /// (`key "name" { algorithm hmac-sha256; secret "..."; };`, several per file), in one
    /// transaction. A key already present with another secret is refused unless --replace.
    Import {
        /// The key file; `-` for standard input.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace keys of the same name.
        #[arg(long)]
        replace: bool,
    },
    /// List keys: names and algorithms, never secrets.
    List {
        /// Print a JSON array of {"name","algorithm"} objects.
        #[arg(long)]
        json: bool,
    },
    /// Delete keys (all named or none).
    Delete {
        /// Key names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
}

/// A key name as stored and compared: absolute, lower case.
pub fn key_name(text: &str) -> anyhow::Result<String> {
    let key = name::key_from_dotted(text).with_context(|| format!("key name {text:?}"))?;
    if key == name::ROOT_KEY {
        bail!("key name {text:?}: the root is not a key name");
    }
    Ok(name::key_to_text(&key))
}

fn parse_algorithm(text: &str) -> anyhow::Result<Algorithm> {
    Algorithm::from_name(text)
        .with_context(|| format!("unknown TSIG algorithm {text:?}: use hmac-sha256, hmac-sha512, hmac-sha384 or hmac-sha1"))
}

fn put(store: &Store, txn: &mut heed::RwTxn, name: &str, key: &StoredKey, replace: bool) -> anyhow::Result<()> {
    let db_key = name::key_from_dotted(name)?;
    if let Some(existing) = store.tsig_keys.get(txn, &db_key).map_err(|e| store.error(e))? {
        let same = StoredKey::decode(existing).is_ok_and(|e| e == *key);
        if !same && !replace {
            bail!("a key named {name} already exists (with another secret or algorithm); pass --replace to replace it");
        }
    }
    store.tsig_keys.put(txn, &db_key, &key.encode()).map_err(|e| store.error(e))?;
    Ok(())
}

pub fn run(store: &Store, command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Add { name: text, algorithm, secret, replace } => {
            let name = key_name(&text)?;
            let alg = parse_algorithm(&algorithm)?;
            let (secret, generated) = match secret.as_deref() {
                Some("-") => {
                    let mut text = String::new();
                    std::io::stdin().read_to_string(&mut text).context("reading the secret from standard input")?;
                    (decode_secret(text.trim())?, false)
                }
                Some(b64) => (decode_secret(b64)?, false),
                None => {
                    let mut secret = vec![0u8; alg.mac_len()];
                    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut secret)
                        .map_err(|_| anyhow::anyhow!("the system's random number generator failed"))?;
                    (secret, true)
                }
            };
            let stored = StoredKey { algorithm: alg.name_text().to_string(), secret: data_encoding::BASE64.encode(&secret) };
            let mut txn = store.write_txn()?;
            put(store, &mut txn, &name, &stored, replace)?;
            txn.commit().map_err(|e| store.error(e))?;
            if generated {
                print!("{}", keyfile::format_key(&name, alg, &secret));
            } else {
                println!("added key {name} ({})", alg.name_text());
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Import { file, replace } => {
            let (label, text) = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text).context("reading keys from standard input")?;
                ("<stdin>".to_string(), text)
            } else {
                let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
                (file.display().to_string(), text)
            };
            let keys = keyfile::parse_keys(&text).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
            if keys.is_empty() {
                bail!("{label}: no key clause found");
            }
            let mut txn = store.write_txn()?;
            let mut names = Vec::new();
            for spec in &keys {
                let name = key_name(&spec.name).with_context(|| label.clone())?;
                let stored =
                    StoredKey { algorithm: spec.algorithm.name_text().to_string(), secret: data_encoding::BASE64.encode(&spec.secret) };
                put(store, &mut txn, &name, &stored, replace).with_context(|| label.clone())?;
                names.push(name);
            }
            txn.commit().map_err(|e| store.error(e))?;
            for name in names {
                println!("imported key {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::List { json } => {
            let txn = store.read_txn()?;
            let mut rows = Vec::new();
            for item in store.tsig_keys.iter(&txn).map_err(|e| store.error(e))? {
                let (k, v) = item.map_err(|e| store.error(e))?;
                let key = StoredKey::decode(v).with_context(|| format!("corrupt key record {}", name::key_to_text(k)))?;
                rows.push((name::key_to_text(k), key.algorithm));
            }
            if json {
                let rows: Vec<_> = rows.iter().map(|(n, a)| serde_json::json!({"name": n, "algorithm": a})).collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for (n, a) in rows {
                    println!("{n} {a}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Delete { names } => {
            let mut txn = store.write_txn()?;
            let mut deleted = Vec::new();
            for text in &names {
                let name = key_name(text)?;
                if !store.tsig_keys.delete(&mut txn, &name::key_from_dotted(&name)?).map_err(|e| store.error(e))? {
                    bail!("no key {name} in the database");
                }
                deleted.push(name);
            }
            txn.commit().map_err(|e| store.error(e))?;
            for name in deleted {
                println!("deleted key {name}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn decode_secret(b64: &str) -> anyhow::Result<Vec<u8>> {
    // The text is never echoed: it is the secret.
    let secret = data_encoding::BASE64.decode(b64.as_bytes()).map_err(|_| anyhow::anyhow!("the secret is not valid base64"))?;
    if secret.is_empty() {
        bail!("the secret is empty");
    }
    Ok(secret)
}
