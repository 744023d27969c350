//! The messages of the TOML reader, said in the file format's words.
//!
//! `toml` and `serde` describe a value that has the wrong type in Rust's
//! vocabulary: "invalid type: string \"64512\", expected i64", "expected
//! struct RawVpc", "integer `99999999999999999999` as i128". A reader of a
//! topology or gateway file knows integers, strings, arrays and tables;
//! [`in_file_words`] rewrites those messages into that vocabulary.

/// The largest and smallest TOML integers (64-bit, signed).
const INTEGER_RANGE: &str = "-9223372036854775808 to 9223372036854775807";

/// `message` (a TOML reader's error) with every Rust type name replaced by
/// what the file format calls it; `written` is the text of the value at
/// the error's place, when known, to tell a date-time from a table.
pub fn in_file_words(message: &str, written: Option<&str>) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.rsplit_once(", expected ") {
            if let Some(n) = found
                .strip_prefix("integer `")
                .and_then(|f| f.strip_suffix("` as i128"))
            {
                return format!(
                    "integer {n} is out of range: a TOML integer is from {INTEGER_RANGE}"
                );
            }
            return format!(
                "expected {}, found {}",
                expected_words(expected),
                found_words(found, written)
            );
        }
    }
    if message.starts_with("data did not match any variant of untagged enum") {
        return "this value has none of the forms this field takes".into();
    }
    message.to_string()
}

/// What serde expected, as the format says it.
fn expected_words(expected: &str) -> String {
    let integer = [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "usize", "isize",
    ];
    if integer.contains(&expected) {
        return "an integer".into();
    }
    if expected == "f32" || expected == "f64" {
        return "a number".into();
    }
    if expected.starts_with("struct ") || expected == "a map" {
        return "a table".into();
    }
    match expected {
        "a sequence" => "an array".into(),
        "any value" => "a value".into(),
        "a borrowed string" => "a string".into(),
        "a boolean" => "true or false".into(),
        other => other.to_string(),
    }
}

/// What serde found, as the format says it.
fn found_words(found: &str, written: Option<&str>) -> String {
    let date = written.is_some_and(|w| {
        let w = w.trim();
        w.starts_with(|c: char| c.is_ascii_digit()) && (w.contains('-') || w.contains(':'))
    });
    if let Some(s) = found.strip_prefix("string ") {
        return format!("the string {s}");
    }
    let value = |kind: &str| {
        found
            .strip_prefix(kind)
            .map(|v| v.trim().trim_matches('`').to_string())
    };
    if let Some(n) = value("integer") {
        return format!("the integer {n}");
    }
    if let Some(x) = value("floating point") {
        return format!("the float {x}");
    }
    if let Some(b) = value("boolean") {
        return b;
    }
    match found {
        "map" if date => "a date-time".into(),
        "map" => "a table".into(),
        "sequence" => "an array".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::in_file_words;

    #[test]
    fn rust_type_names_become_the_formats_words() {
        let cases = [
            (
                "invalid type: string \"64512\", expected i64",
                None,
                "expected an integer, found the string \"64512\"",
            ),
            (
                "invalid type: floating point `1000.0`, expected u16",
                None,
                "expected an integer, found the float 1000.0",
            ),
            (
                "invalid type: integer `99999999999999999999` as i128, expected i64",
                None,
                "integer 99999999999999999999 is out of range: a TOML integer is from -9223372036854775808 to 9223372036854775807",
            ),
            (
                "invalid type: string \"x\", expected struct RawVpc",
                None,
                "expected a table, found the string \"x\"",
            ),
            (
                "invalid type: map, expected a sequence",
                Some("{ name = \"x\" }"),
                "expected an array, found a table",
            ),
            (
                "invalid type: map, expected a string",
                Some("1979-05-27"),
                "expected a string, found a date-time",
            ),
            (
                "invalid type: integer `1`, expected a boolean",
                None,
                "expected true or false, found the integer 1",
            ),
            (
                "invalid type: boolean `true`, expected a string",
                None,
                "expected a string, found true",
            ),
            (
                "data did not match any variant of untagged enum NumOrStr",
                None,
                "this value has none of the forms this field takes",
            ),
            (
                "missing field `ip`",
                None,
                "missing field `ip`",
            ),
        ];
        for (message, written, words) in cases {
            assert_eq!(in_file_words(message, written), words, "{message}");
        }
    }
}
