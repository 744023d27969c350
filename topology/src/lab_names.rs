//! What a name from the file becomes where the simulator's daemons read
//! it as an identifier: a BIRD symbol (a session's protocol, shared with
//! FRR's words), an HAProxy server name. Defined here, beside the rules a
//! name must follow, so that `check` refuses two names that would become
//! one identifier; the simulator's `render::names` writes them with these
//! functions.
//!
//! [`escape`] is injective (`:` always starts an escape of two hex
//! digits); an identifier longer than its language allows keeps a
//! readable head and ends in `::` and 16 hex digits of the name's BLAKE2s
//! hash ([`fit`]), so two long names meet only when their heads and
//! 64-bit hashes do: [`clashes`] finds them.

use std::fmt::Write as _;

use blake2::{Blake2s256, Digest};

use crate::bgp::SessionKind;

/// BIRD's longest symbol (`SYM_MAX_LEN` in its lexer).
pub const BIRD_SYMBOL_MAX: usize = 64;

/// Room [`bird_symbol_name`] leaves below [`BIRD_SYMBOL_MAX`] for a suffix
/// a caller appends (`.export`).
pub const BIRD_SUFFIX_ROOM: usize = 8;

/// HAProxy's longest server name and cookie we write: its proxies and
/// servers take any length, but a stats page and logs stay readable.
pub const HAPROXY_NAME_MAX: usize = 64;

/// `name` with letters, digits, `_` and `-` kept and every other
/// character as `:` followed by the lowercase hex of each of its UTF-8
/// bytes. Injective: `:` always starts an escape.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, ":{b:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
thread_local! {
    /// Hex digits of the hash [`fit`] ends a long identifier with: fewer
    /// in a test that forces two names to clash.
    pub(crate) static HASH_DIGITS: std::cell::Cell<usize> = const { std::cell::Cell::new(16) };
}

/// The hex digits of `name`'s hash that end a long identifier.
fn name_hash(name: &str) -> String {
    let digest = Blake2s256::digest(name.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    #[cfg(test)]
    let hex = hex[..HASH_DIGITS.with(|d| d.get())].to_string();
    hex
}

/// `head` (an [`escape`]d text, after `prefix`) fitted into `max`
/// characters: whole when it fits, else cut at an escape's boundary and
/// ended with `::` and 16 hex digits of `name`'s BLAKE2s hash.
pub fn fit(prefix: &str, head: &str, name: &str, max: usize) -> String {
    if prefix.len() + head.len() <= max {
        return format!("{prefix}{head}");
    }
    let hash = name_hash(name);
    let room = max.saturating_sub(prefix.len() + 2 + hash.len());
    let mut cut = room.min(head.len());
    // never cut inside an escape (`:` and two hex digits)
    while let Some(i) = head[..cut].rfind(':') {
        if i + 3 <= cut {
            break;
        }
        cut = i;
    }
    format!("{prefix}{}::{hash}", &head[..cut])
}

/// The name BIRD shows for a symbol of kind `prefix` (`dx`, `vpn`) named
/// after `name`: `prefix.` and [`escape`]d `name`, at most
/// [`BIRD_SYMBOL_MAX`] − [`BIRD_SUFFIX_ROOM`] characters. Never a keyword
/// (it holds a `.`).
pub fn bird_symbol_name(prefix: &str, name: &str) -> String {
    fit(
        &format!("{prefix}."),
        &escape(name),
        name,
        BIRD_SYMBOL_MAX - BIRD_SUFFIX_ROOM,
    )
}

/// The name of the BGP session of a VIF or VPN called `name` in BIRD
/// (its protocol) and FRR (its words): [`bird_symbol_name`] after `dx` or
/// `vpn`.
pub fn session_name(kind: SessionKind, name: &str) -> String {
    let prefix = match kind {
        SessionKind::DirectConnect => "dx",
        SessionKind::Vpn => "vpn",
    };
    bird_symbol_name(prefix, name)
}

/// An HAProxy server name or cookie value for a node named `name`:
/// [`escape`]d (HAProxy takes letters, digits, `-`, `_`, `.` and `:` in
/// a name, and a cookie value ends at whitespace or `;`), at most
/// [`HAPROXY_NAME_MAX`] characters; the empty name as `:`, which no other
/// name gives (an escape's `:` is followed by two hex digits).
pub fn haproxy_name(name: &str) -> String {
    if name.is_empty() {
        return ":".into();
    }
    fit("", &escape(name), name, HAPROXY_NAME_MAX)
}

/// The pairs of `names` (by their index) that `identifier` makes one:
/// each later name with the first it meets.
pub fn clashes<'a>(
    names: impl IntoIterator<Item = &'a str>,
    identifier: impl Fn(&str) -> String,
) -> Vec<(usize, usize, String)> {
    let mut first: std::collections::HashMap<String, usize> = Default::default();
    let mut out = Vec::new();
    for (i, name) in names.into_iter().enumerate() {
        let id = identifier(name);
        match first.get(&id) {
            Some(&j) => out.push((j, i, id)),
            None => {
                first.insert(id, i);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_hash_makes_two_long_names_one_identifier() {
        let (a, b) = ("é".repeat(40), format!("{}e", "é".repeat(39)));
        assert!(clashes([a.as_str(), b.as_str()], haproxy_name).is_empty());
        HASH_DIGITS.with(|d| d.set(0));
        let (sa, sb) = (haproxy_name(&a), haproxy_name(&b));
        HASH_DIGITS.with(|d| d.set(16));
        assert_eq!(sa, sb);
    }
}
