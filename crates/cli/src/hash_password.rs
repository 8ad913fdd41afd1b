//! `prov9 hash-password`: the SCRAM-SHA-256 verifier of a password read from standard input.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use prov9_pgwire::scram::ScramVerifier;

pub fn run() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!("Password (shown as typed; pipe it in to keep it off the screen): ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        bail!(
            "the password is empty: give one on standard input, e.g. `read -rs P; echo \"$P\" | prov9 hash-password`"
        );
    }
    println!("{}", ScramVerifier::new(password));
    Ok(())
}
