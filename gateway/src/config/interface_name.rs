//! `[interface] name`: the rule the kernel applies to a link's name
//! (`dev_valid_name` in `net/core/dev.c`), so that a name `--check`
//! accepts is one the TUN device can be created with.

/// Longest name: `IFNAMSIZ` (16) less the terminating NUL.
pub const MAX_INTERFACE_NAME: usize = 15;

/// Why the kernel refuses `name` as a link name, or `None` if it takes it:
/// empty, longer than 15 bytes, `.` or `..`, or containing `/`, `:` or a
/// byte the kernel's `isspace` counts as a space: space, tab, newline,
/// vertical tab, form feed, carriage return, and 0xA0 (its ctype table is
/// Latin-1's, where 0xA0 is the no-break space: so a UTF-8 letter such as
/// `à`, bytes C3 A0, is refused too). `\0` ends a C string early, so it is
/// refused as well. And `%`: the kernel takes a name holding it as a
/// template (`dev_alloc_name`), so a TUN device asked for as `vg%d` is made
/// as `vg0` (or `vg1`, ...), a name the gateway would not know its device by.
pub fn interface_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name.len() > MAX_INTERFACE_NAME {
        return Some(format!(
            "it is {} bytes long, more than {MAX_INTERFACE_NAME}",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Some(format!("`{name}` names a directory in /sys/class/net"));
    }
    if name.contains('%') {
        return Some(
            "it contains `%`, which makes it a template to the kernel (`vg%d` makes `vg0`, `vg1`, ...), not a name"
                .into(),
        );
    }
    let bad = name.chars().find(|&c| {
        let mut utf8 = [0; 4];
        c.encode_utf8(&mut utf8)
            .bytes()
            .any(|b| matches!(b, b'/' | b':' | 0 | b' ' | b'\t'..=b'\r' | 0xA0))
    })?;
    Some(format!("it contains {}", describe(bad)))
}

fn describe(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '/' | ':' => format!("`{c}`"),
        c if c.is_control() => format!("the control character {c:?}"),
        c => format!("`{c}`, whose UTF-8 holds the byte 0xA0, a space to the kernel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kernel_takes_pass() {
        for ok in [
            "vg0",
            "vifgate0",
            "a",
            "x.y",
            "tun-office_1",
            "123456789012345",
        ] {
            assert_eq!(interface_name_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn names_the_kernel_refuses_are_refused_with_the_reason() {
        for (bad, why) in [
            ("", "it is empty"),
            ("1234567890123456", "it is 16 bytes long, more than 15"),
            (".", "`.` names a directory in /sys/class/net"),
            ("..", "`..` names a directory in /sys/class/net"),
            ("a:b", "it contains `:`"),
            ("a/b", "it contains `/`"),
            ("a b", "it contains a space"),
            ("a\tb", "it contains the control character '\\t'"),
            ("a\u{b}", "it contains the control character '\\u{b}'"),
            ("a\0", "it contains the control character '\\0'"),
            (
                "vg%d",
                "it contains `%`, which makes it a template to the kernel (`vg%d` makes `vg0`, `vg1`, ...), not a name",
            ),
            (
                "và",
                "it contains `à`, whose UTF-8 holds the byte 0xA0, a space to the kernel",
            ),
        ] {
            assert_eq!(interface_name_problem(bad).as_deref(), Some(why), "{bad:?}");
        }
        // bytes, not characters: 8 two-byte letters are 16 bytes
        assert!(interface_name_problem("éééééééé").is_some());
        // é is C3 A9: no space byte, the kernel takes it
        assert_eq!(interface_name_problem("vé"), None);
    }
}
