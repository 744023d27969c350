//! `vifgate genkey`, `vifgate pubkey`, `vifgate genpsk`: WireGuard keys, made
//! and printed as `wg genkey`, `wg pubkey` and `wg genpsk` make and print
//! them, so that either tool reads the other's keys.

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::os::unix::fs::PermissionsExt as _;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use gateway::keys::{self, KeyError, PresharedKey, PrivateKey};

/// The most `vifgate pubkey` reads from standard input: a key with any
/// sensible amount of whitespace around it.
const MAX_PUBKEY_INPUT: usize = 4096;

/// `vifgate genkey`: prints a new random private key (clamped) in base64,
/// then a newline.
///
/// # Errors
///
/// When the system has no randomness to give or standard output cannot be
/// written.
pub fn genkey() -> Result<ExitCode> {
    warn_if_stdout_is_shared();
    let key = PrivateKey::generate().context("cannot generate a private key")?;
    print_line(&key.to_base64())
}

/// `vifgate pubkey`: reads a private key in base64 from standard input
/// (surrounding whitespace ignored) and prints its public key, then a
/// newline. Input that is not a key is reported on standard error with exit
/// code 1.
///
/// # Errors
///
/// When standard input cannot be read or standard output cannot be written.
pub fn pubkey() -> Result<ExitCode> {
    let mut input = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_PUBKEY_INPUT as u64 + 1)
        .read_to_end(&mut input)
        .context("cannot read the private key from standard input")?;
    if input.len() > MAX_PUBKEY_INPUT {
        eprintln!(
            "error: standard input is too long to be a WireGuard private key \
             (over {MAX_PUBKEY_INPUT} bytes)"
        );
        return Ok(ExitCode::from(1));
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        eprintln!(
            "error: standard input is empty: expected a private key in base64, \
             as `vifgate genkey` prints one"
        );
        return Ok(ExitCode::from(1));
    }
    let parsed: Result<PrivateKey, KeyError> = keys::parse_key_text(&input);
    input.fill(0);
    match parsed {
        Ok(key) => print_line(&key.public_key().to_base64()),
        Err(e) => {
            eprintln!("error: standard input is not a WireGuard private key: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `vifgate genpsk`: prints a new random preshared key in base64, then a
/// newline.
///
/// # Errors
///
/// When the system has no randomness to give or standard output cannot be
/// written.
pub fn genpsk() -> Result<ExitCode> {
    warn_if_stdout_is_shared();
    let key = PresharedKey::generate().context("cannot generate a preshared key")?;
    print_line(&key.to_base64())
}

/// Writes one line to standard output and flushes it.
fn print_line(line: &str) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// Like `wg genkey`, warns when a secret is about to be written to a regular
/// file that group or others can access: `vifgate` would refuse to read it
/// as a key file.
fn warn_if_stdout_is_shared() {
    let Ok(fd) = io::stdout().as_fd().try_clone_to_owned() else {
        return;
    };
    let Ok(metadata) = File::from(fd).metadata() else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o7777;
    if metadata.is_file() && mode & 0o077 != 0 {
        eprintln!(
            "warning: writing a secret key to a file that group or others can access \
             (mode {mode:04o}); vifgate refuses such key files: chmod 600 it, \
             or run `umask 077` before writing keys"
        );
    }
}
