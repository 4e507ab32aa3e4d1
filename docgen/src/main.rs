//! `lmdns-docgen OUTDIR`: the man pages and shell completions of `lmdns-loader` and
//! `lmdns-server`, generated from their clap definitions so they never drift from `--help`.
//! `dist/build-deb.sh` runs it before `cargo deb`, which packages what it writes.
//!
//! Writes `OUTDIR/man/lmdns-loader.1` (and one page per loader subcommand,
//! `lmdns-loader-zone-import.1`, ...), `OUTDIR/man/lmdns-server.1`, and
//! `OUTDIR/completions/{bash/NAME, zsh/_NAME, fish/NAME.fish}` for both, named as Debian's
//! bash-completion, zsh vendor-completions and fish vendor_completions.d directories expect.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use clap_complete::Shell;

#[derive(Parser, Debug)]
#[command(name = "lmdns-docgen", version, about = "Writes the man pages and shell completions of lmdns-loader and lmdns-server.")]
struct Args {
    /// Directory to write `man/` and `completions/{bash,zsh,fish}/` into; created if missing.
    /// Files already there are replaced.
    #[arg(value_name = "OUTDIR")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match generate(&args.out) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lmdns-docgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every page and completion file under `out`; returns their paths.
fn generate(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let commands = [("lmdns-loader", lmdns_loader::cli::command()), ("lmdns-server", lmdns_server::config::command())];
    let man = out.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("creating {}", man.display()))?;
    // Pages of subcommands since renamed or removed must not linger into a package.
    for entry in std::fs::read_dir(&man).with_context(|| format!("reading {}", man.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "1") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    let mut written = Vec::new();
    for (name, command) in &commands {
        // One page per command and per subcommand (lmdns-loader-zone-import.1, ...), each
        // naming its full invocation; the `help` subcommand gets none (it is `--help`).
        clap_mangen::generate_to(command.clone(), &man).with_context(|| format!("writing the man pages of {name} to {}", man.display()))?;
    }
    for entry in std::fs::read_dir(&man).with_context(|| format!("reading {}", man.display()))? {
        written.push(entry?.path());
    }
    written.sort();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let dir = out.join("completions").join(shell.to_string());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, command) in &commands {
            let path = dir.join(completion_file(shell, name));
            let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
            let mut file = BufWriter::new(file);
            clap_complete::generate(shell, &mut command.clone(), *name, &mut file);
            file.flush().with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// The file name each shell's completion directory looks a command's completions up by.
fn completion_file(shell: Shell, name: &str) -> String {
    match shell {
        Shell::Zsh => format!("_{name}"),
        Shell::Fish => format!("{name}.fish"),
        _ => name.to_string(),
    }
}
