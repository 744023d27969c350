//! Topology names as the lab's daemons read them: one function per
//! configuration language that turns a name from the file (a VIF, the
//! VPN, a node, a security group, a subnet ...) into a symbol or a quoted
//! string that language cannot misread.
//!
//! `topology check` allows any name of printable characters (no control
//! character: `topology::resolve`'s `name_characters`), at most
//! [`topology::resolve::aws_limits::MAX_NAME_LEN`] characters for a node,
//! a VIF or the VPN, unique within its kind. So a name can be a keyword of
//! a daemon (`filter`, `table`, `vpn`, `backend`), can hold a space, a
//! quote, a `#` or any Unicode letter. Every function here accepts all of
//! those:
//!
//! - **symbols** ([`bird_symbol`], [`frr_word`], [`haproxy_name`]) are
//!   built from [`escape`]: letters, digits, `_` and `-` kept, every other
//!   character as `:` and the two hex digits of each of its UTF-8 bytes
//!   (`dx vif` → `dx:20vif`). A `:` is always followed by two hex digits,
//!   so the escaped text decodes back to the one name it came from: the
//!   mapping is injective. BIRD's symbols also carry a kind prefix ending
//!   in `.` (`dx.`, `vpn.`), which no BIRD keyword contains and [`escape`]
//!   never produces, so no name becomes a keyword and a VIF and the VPN of
//!   the same name stay apart. A symbol longer than its language allows
//!   (BIRD: 64 characters) keeps a readable head and ends in `::` and 16
//!   hex digits of the name's BLAKE2 hash; `::` never occurs in a short
//!   one (each `:` there is followed by a hex digit), so short and long
//!   forms never meet, and two long ones meet only if their 64-bit hashes
//!   do: `topology check` refuses two such names of one kind
//!   ([`topology::lab_names`], where these identifiers are defined).
//! - **strings** ([`bird_string`], [`nft_comment`]) are quoted, with the
//!   characters the language cannot carry in a string (neither BIRD 2
//!   nor nft escapes a `"` there) replaced by `'`: exact for the symbols
//!   above, which hold none (BIRD's `proto = "dx.x"` matches), and
//!   readable for any other text.

use topology::lab_names::fit;
pub use topology::lab_names::{
    bird_symbol_name, escape, haproxy_name, BIRD_SUFFIX_ROOM, BIRD_SYMBOL_MAX, HAPROXY_NAME_MAX,
};

/// nftables' longest comment, in bytes (`NFTNL_UDATA_COMMENT_MAXLEN`).
pub const NFT_COMMENT_MAX: usize = 128;

/// The longest FRR hostname written: a DNS label's 63 characters.
pub const FRR_HOSTNAME_MAX: usize = 63;

/// [`bird_symbol_name`] as a symbol in a BIRD configuration: in
/// apostrophes, which BIRD needs for a symbol holding `.`, `:` or `-`.
pub fn bird_symbol(prefix: &str, name: &str) -> String {
    format!("'{}'", bird_symbol_name(prefix, name))
}

/// `text` as a BIRD string literal: in double quotes. BIRD 2's strings
/// have no escapes (`"[^"\n]*"` in its lexer: `"a \" b"` is a syntax
/// error), so a `"` becomes `'`; a newline cannot be in a name.
pub fn bird_string(text: &str) -> String {
    let inner: String = text
        .chars()
        .map(|c| if c == '"' || c == '\n' { '\'' } else { c })
        .collect();
    format!("\"{inner}\"")
}

/// A word of FRR's configuration (a route-map, prefix-list or BFD
/// profile name, a neighbour's description) named after `name`:
/// [`bird_symbol_name`], so that FRR and BIRD call a session by the same
/// name and `vifgate sim bgp` finds it in either. FRR reads a word up to
/// whitespace; this one has none, and at most
/// [`BIRD_SYMBOL_MAX`] − [`BIRD_SUFFIX_ROOM`] characters leaves a BFD
/// profile name (64 at most) room.
pub fn frr_word(prefix: &str, name: &str) -> String {
    bird_symbol_name(prefix, name)
}

/// FRR's `hostname` for a node named `name`: [`escape`]d, and after an
/// `n` when it would not start with a letter or digit (FRR refuses such
/// a hostname), at most [`FRR_HOSTNAME_MAX`] characters (FRR refuses
/// 255 and more). Only people read it: vtysh's prompt.
pub fn frr_hostname(name: &str) -> String {
    let e = fit("", &escape(name), name, FRR_HOSTNAME_MAX - 1);
    if e.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        e
    } else {
        format!("n{e}")
    }
}

/// `text` as an nftables comment, between the double quotes the caller
/// writes: `"` and `\` (which nft cannot escape there) as `'`, cut at a
/// character boundary to at most [`NFT_COMMENT_MAX`] bytes.
pub fn nft_comment(text: &str) -> String {
    let mut out = String::new();
    for c in text
        .chars()
        .map(|c| if c == '"' || c == '\\' { '\'' } else { c })
    {
        if out.len() + c.len_utf8() > NFT_COMMENT_MAX {
            break;
        }
        out.push(c);
    }
    out
}

/// `text` as one word of HAProxy's configuration: in double quotes, with
/// the characters HAProxy reads specially there (`\\`, `"`, `$` for an
/// environment variable, and line ends) escaped with a backslash, so the
/// word HAProxy reads is `text` whatever it holds.
pub fn haproxy_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as the argument of a sample fetch (`res.cook(...)`) in HAProxy's
/// configuration: HAProxy reads the word ([`haproxy_string`]), then the
/// argument list in it, where a quote, `,`, a parenthesis, a space or a
/// backslash needs a backslash of its own.
pub fn haproxy_sample_arg(text: &str) -> String {
    let mut arg = String::new();
    for c in text.chars() {
        if matches!(c, '\\' | '\'' | '"' | ',' | '(' | ')' | ' ') {
            arg.push('\\');
        }
        arg.push(c);
    }
    haproxy_string(&arg)
}

/// `text` as one argument of a converter in a `%[...]` expression of a
/// log-format word (`map(PATH,-)`), inside the word the caller quotes
/// with [`haproxy_string`]. HAProxy 2.6 reads no backslash escape there
/// (`\,` still ends the argument), but it takes single quotes, in which
/// every character is itself, and a quoted run may follow an escaped
/// `\'`: `text` in single quotes, each `'` as `'\''`.
pub fn haproxy_expr_arg(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `text` (a topology name, or words around one) as the rest of a line
/// comment (`#` in BIRD, HAProxy and nftables, `!` in FRR): every control
/// character as a space, so that nothing after it leaves the comment.
/// `check` allows none in a name; this keeps a comment one line whatever
/// reaches it.
pub fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_readable() {
        assert_eq!(bird_symbol("dx", "dx-vif"), "'dx.dx-vif'");
        assert_eq!(bird_symbol("vpn", "vpn"), "'vpn.vpn'");
        assert_eq!(bird_symbol_name("dx", "o'neil vif"), "dx.o:27neil:20vif");
        assert_eq!(escape("é"), ":c3:a9");
        assert_eq!(escape("a:b"), "a:3ab");
        assert_eq!(haproxy_name("web-a1"), "web-a1");
        assert_eq!(haproxy_name(""), ":");
        assert_eq!(bird_symbol_name("dx", ""), "dx.");
        assert_eq!(frr_hostname("office"), "office");
        assert_eq!(frr_hostname("-x"), "n-x");
        assert_eq!(bird_string("a \"b\" \\"), "\"a 'b' \\\"");
    }

    #[test]
    fn names_the_old_scheme_merged_stay_apart() {
        // `a b` and `a_b` were both `a_b-`; `filter` and `filter-` both
        // `filter-`; a VIF and the VPN called `x` both `x-`
        assert_ne!(bird_symbol_name("dx", "a b"), bird_symbol_name("dx", "a_b"));
        assert_ne!(
            bird_symbol_name("dx", "filter"),
            bird_symbol_name("dx", "filter-")
        );
        assert_ne!(bird_symbol_name("dx", "x"), bird_symbol_name("vpn", "x"));
    }

    #[test]
    fn long_names_fit_and_stay_apart() {
        let a = "é".repeat(51);
        let b = format!("{}e", "é".repeat(50));
        let (sa, sb) = (bird_symbol_name("dx", &a), bird_symbol_name("dx", &b));
        assert!(sa.len() <= BIRD_SYMBOL_MAX - BIRD_SUFFIX_ROOM, "{sa}");
        assert_ne!(sa, sb);
        assert!(sa.contains("::"), "{sa}");
        assert!(!bird_symbol_name("dx", "a:b c").contains("::"));
        assert!(haproxy_name(&a).len() <= HAPROXY_NAME_MAX);
        assert!(frr_hostname(&a).len() <= FRR_HOSTNAME_MAX);
    }

    #[test]
    fn comments_are_cut_at_a_character() {
        let c = nft_comment(&"é".repeat(100));
        assert_eq!(c.len(), NFT_COMMENT_MAX);
        assert_eq!(nft_comment("a \"b\\"), "a 'b'");
    }

    #[test]
    fn haproxy_words_are_quoted_and_escaped() {
        assert_eq!(haproxy_string("/health"), "\"/health\"");
        assert_eq!(haproxy_string("/a'$b\"c\\\n"), r#""/a'\$b\"c\\\n""#);
        assert_eq!(haproxy_sample_arg("connect.sid"), "\"connect.sid\"");
        assert_eq!(haproxy_sample_arg("a'b$c"), r#""a\\'b\$c""#);
        assert_eq!(haproxy_expr_arg("/a b,(c)"), "'/a b,(c)'");
        assert_eq!(haproxy_expr_arg("/it's"), r"'/it'\''s'");
    }

    #[test]
    fn line_comments_stay_one_line() {
        assert_eq!(comment("db \"acl\" #x é"), "db \"acl\" #x é");
        assert_eq!(comment("a\nprotocol x\r"), "a protocol x ");
    }
}
