//! `lmdns-docgen OUTDIR` writes a man page per command and loader subcommand, and bash, zsh and
//! fish completions, each naming every flag of the command line it was generated from.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_lmdns-docgen");

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every long flag of `command` itself (not of its subcommands).
fn long_flags(command: &clap::Command) -> Vec<String> {
    let flags: Vec<String> = command.get_arguments().filter_map(|a| a.get_long()).map(str::to_string).collect();
    assert!(!flags.is_empty(), "{} has flags", command.get_name());
    flags
}

/// The page names of `command` and all its subcommands (`lmdns-loader-zone-import`, ...).
fn page_names(command: &clap::Command, prefix: &str, out: &mut Vec<String>) {
    let name = if prefix.is_empty() { command.get_name().to_string() } else { format!("{prefix}-{}", command.get_name()) };
    for sub in command.get_subcommands() {
        page_names(sub, &name, out);
    }
    out.push(name);
}

#[test]
fn writes_man_pages_and_completions_naming_every_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dist");
    // A stale page from an earlier run goes.
    std::fs::create_dir_all(out.join("man")).unwrap();
    std::fs::write(out.join("man/lmdns-loader-gone.1"), "stale").unwrap();
    let run = Command::new(BIN).arg(&out).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(!out.join("man/lmdns-loader-gone.1").exists(), "stale pages are removed");

    for (name, command) in [("lmdns-loader", lmdns_loader::cli::command()), ("lmdns-server", lmdns_server::config::command())] {
        let page = read(&out.join(format!("man/{name}.1")));
        assert!(page.starts_with(".ie") || page.contains(".TH"), "{name}.1 is roff: {}", &page[..80.min(page.len())]);
        let bash = read(&out.join(format!("completions/bash/{name}")));
        let zsh = read(&out.join(format!("completions/zsh/_{name}")));
        let fish = read(&out.join(format!("completions/fish/{name}.fish")));
        for flag in long_flags(&command) {
            // roff writes a hyphen as `\-`.
            assert!(page.contains(&format!("\\fB{}\\fR", format!("--{flag}").replace('-', "\\-"))), "{name}.1 lacks --{flag}");
            assert!(bash.contains(&format!("--{flag}")), "bash completion of {name} lacks --{flag}");
            assert!(zsh.contains(&format!("--{flag}")), "zsh completion of {name} lacks --{flag}");
            assert!(fish.contains(&format!("-l {flag}")), "fish completion of {name} lacks --{flag}");
        }
        let mut pages = Vec::new();
        page_names(&command, "", &mut pages);
        for page in pages {
            let path = out.join(format!("man/{page}.1"));
            assert!(path.is_file(), "{} is written", path.display());
        }
    }
    // Subcommand pages show the whole invocation and their own flags.
    let check = read(&out.join("man/lmdns-loader-zone-check.1"));
    assert!(check.contains("lmdns\\-loader zone check"), "{check}");
    for flag in ["\\-\\-origin", "\\-\\-json"] {
        assert!(check.contains(flag), "zone check page lacks {flag}");
    }
}

#[test]
fn usage_is_explained() {
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("OUTDIR"));
    assert!(!Command::new(BIN).output().unwrap().status.success(), "OUTDIR is required");
}
