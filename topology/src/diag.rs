//! Diagnostics: errors and warnings that point into a topology file.
//!
//! Every problem found while reading a topology is a [`Diagnostic`] with the
//! file, line and column it concerns, what was expected and a hint. They are
//! collected, not thrown one at a time, so a user sees every mistake at once.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;

use ipnet::Ipv4Net;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

use crate::units::{fmt_duration, parse_decimal, parse_duration, parse_percent, UnitError};

mod file_words;
pub use file_words::in_file_words;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The topology is still usable; something deserves attention.
    Warning,
    /// The topology cannot be used.
    Error,
}

/// One problem in a topology file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the user named it.
    pub file: PathBuf,
    /// 1-based line; 0 when the problem has no place in the file.
    pub line: usize,
    /// 1-based column (in characters); 0 when the problem has no place.
    pub col: usize,
    /// What is wrong.
    pub message: String,
    /// What was expected there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// How to fix it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The offending source line, for display.
    #[serde(skip)]
    pub source_line: Option<String>,
    /// Width of the underline under the offending text (characters).
    #[serde(skip)]
    pub width: usize,
}

impl Diagnostic {
    /// The one-line form, `file:line:col: severity: message`, used by tests
    /// and by scripts that grep.
    pub fn headline(&self) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            format!("{}: {}: {}", self.file.display(), sev, self.message)
        } else {
            format!(
                "{}:{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.col,
                sev,
                self.message
            )
        }
    }

    /// Whether this is an error (not a warning).
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.headline())?;
        if let Some(src) = &self.source_line {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            let shown = ShownLine::of(src, self.col.saturating_sub(1), self.width.max(1));
            writeln!(f, "{pad} |")?;
            writeln!(f, "{num} | {}", shown.text)?;
            let caret_pad = " ".repeat(shown.caret_at);
            let carets = "^".repeat(shown.width);
            writeln!(f, "{pad} | {caret_pad}{carets}")?;
        }
        if let Some(e) = &self.expected {
            writeln!(f, "  = expected: {e}")?;
        }
        if let Some(h) = &self.hint {
            writeln!(f, "  = hint: {h}")?;
        }
        Ok(())
    }
}

/// The most characters of a source line a diagnostic shows: a longer line
/// (a minified template, a line of 100,000 brackets) is cut around the
/// offending text, `…` where it is cut.
pub const MAX_SHOWN_LINE: usize = 120;

/// A source line as a diagnostic shows it, and where its underline goes.
struct ShownLine {
    text: String,
    /// Characters before the underline.
    caret_at: usize,
    /// Characters underlined.
    width: usize,
}

impl ShownLine {
    /// `line` with its characters `at..at + width` underlined, cut to
    /// [`MAX_SHOWN_LINE`] characters around them.
    fn of(line: &str, at: usize, width: usize) -> ShownLine {
        let len = line.chars().count();
        if len <= MAX_SHOWN_LINE {
            return ShownLine {
                text: line.to_string(),
                caret_at: at,
                width,
            };
        }
        let width = width.min(MAX_SHOWN_LINE / 2);
        // a third of the room before the offending text
        let from = at
            .saturating_sub(MAX_SHOWN_LINE / 3)
            .min(len - MAX_SHOWN_LINE);
        let to = from + MAX_SHOWN_LINE;
        let mut text = String::new();
        if from > 0 {
            text.push('…');
        }
        text.extend(line.chars().skip(from).take(MAX_SHOWN_LINE));
        if to < len {
            text.push('…');
        }
        ShownLine {
            text,
            caret_at: at - from + usize::from(from > 0),
            width,
        }
    }
}

/// A list of diagnostics, printed one after the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Whether any of them is an error.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }

    /// Only the warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| !d.is_error())
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            write!(f, "{d}")?;
        }
        let errors = self.errors().count();
        let warnings = self.0.len() - errors;
        if errors > 0 {
            writeln!(f, "{errors} error(s), {warnings} warning(s)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A source text with its name, able to turn byte offsets into line:col.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: PathBuf,
    text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Wraps a text read from `name`.
    pub fn new(name: impl AsRef<Path>, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile {
            name: name.as_ref().to_path_buf(),
            text,
            line_starts,
        }
    }

    /// The file name as given.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }

    /// Builds a diagnostic for a byte span of this file.
    pub fn diagnostic(
        &self,
        severity: Severity,
        span: Option<Range<usize>>,
        message: impl Into<String>,
    ) -> Diagnostic {
        let (line, col, source_line, width) = match span {
            Some(span) => {
                let (line, col) = self.line_col(span.start);
                let text = self.line_text(line);
                let end = span.end.min(self.line_starts[line - 1] + text.len());
                let width = self
                    .text
                    .get(span.start..end.max(span.start))
                    .map(|s| s.chars().count())
                    .unwrap_or(1);
                (line, col, Some(text.to_string()), width)
            }
            None => (0, 0, None, 0),
        };
        Diagnostic {
            severity,
            file: self.name.clone(),
            line,
            col,
            message: message.into(),
            expected: None,
            hint: None,
            source_line,
            width,
        }
    }
}

/// Small builder helpers so call sites read as sentences.
impl Diagnostic {
    /// Adds what was expected.
    pub fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }

    /// Adds a hint.
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

/// Collects the diagnostics of one file, with the value checks every file
/// format of the project shares (addresses, blocks, ranges), so that a
/// mistake reads the same in a topology and in a gateway config.
pub struct Reporter<'a> {
    /// The file.
    pub src: &'a SourceFile,
    /// What was found so far.
    pub diags: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    /// Starts reporting on `src`.
    pub fn new(src: &'a SourceFile) -> Self {
        Reporter {
            src,
            diags: Vec::new(),
        }
    }

    /// The diagnostics, in file order.
    pub fn finish(mut self) -> Diagnostics {
        self.diags.sort_by_key(|d| (d.line, d.col));
        Diagnostics(self.diags)
    }

    /// Records an error at `span`; returns it to add `expected`/`hint`.
    pub fn error(&mut self, span: Range<usize>, msg: impl Into<String>) -> &mut Diagnostic {
        let d = self.src.diagnostic(Severity::Error, Some(span), msg);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    /// Records a warning at `span`.
    pub fn warning(&mut self, span: Range<usize>, msg: impl Into<String>) -> &mut Diagnostic {
        let d = self.src.diagnostic(Severity::Warning, Some(span), msg);
        self.diags.push(d);
        self.diags.last_mut().expect("just pushed")
    }

    /// An IPv4 address.
    pub fn ip(&mut self, s: &Spanned<String>) -> Option<Ipv4Addr> {
        match s.get_ref().parse::<Ipv4Addr>() {
            Ok(a) => Some(a),
            Err(_) => {
                let d = self.error(
                    s.span(),
                    format!("`{}` is not an IPv4 address", s.get_ref()),
                );
                d.expected = Some("an address like 10.0.1.10".into());
                None
            }
        }
    }

    /// An IPv4 block given by its network address.
    pub fn cidr(&mut self, s: &Spanned<String>) -> Option<Ipv4Net> {
        match s.get_ref().parse::<Ipv4Net>() {
            Ok(n) if n.trunc() == n => Some(n),
            Ok(n) => {
                let d = self.error(s.span(), format!("`{}` has host bits set", s.get_ref()));
                d.expected = Some("a network address with its prefix length".into());
                d.hint = Some(format!("did you mean `{}`?", n.trunc()));
                None
            }
            Err(_) => {
                let d = self.error(
                    s.span(),
                    format!("`{}` is not an IPv4 CIDR block", s.get_ref()),
                );
                d.expected = Some("a block like 10.0.0.0/16".into());
                None
            }
        }
    }

    /// `a.b.c.d/len` where the address may have host bits (peer addresses).
    pub fn interface_cidr(&mut self, s: &Spanned<String>) -> Option<Ipv4Net> {
        match s.get_ref().parse::<Ipv4Net>() {
            Ok(n) => Some(n),
            Err(_) => {
                let d = self.error(
                    s.span(),
                    format!("`{}` is not an address with a prefix length", s.get_ref()),
                );
                d.expected = Some("an address like 169.254.100.1/30".into());
                None
            }
        }
    }

    /// An integer within `lo..=hi`; `what` names it in the message.
    pub fn int_in(&mut self, v: &Spanned<i64>, lo: i64, hi: i64, what: &str) -> Option<i64> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            let d = self.error(v.span(), format!("{what} {n} is out of range"));
            d.expected = Some(format!("{what} from {lo} to {hi}"));
            None
        }
    }

    /// A duration in a string (`"250us"`, `"2ms"`, `"1.5ms"`, `"1s"`),
    /// from 0 to `max`; a bare number is an error with a hint. Shared by
    /// topology files and gateway configurations.
    pub fn duration(
        &mut self,
        v: &Spanned<toml::Value>,
        what: &str,
        max: Duration,
    ) -> Option<Duration> {
        const EXPECTED: &str = "a duration in quotes: a number and a unit (us, ms or s), like \"250us\", \"2ms\", \"1.5ms\", \"1s\"";
        let text = self.duration_text(v, EXPECTED, |shown| {
            format!("did you mean `{what} = \"{shown}ms\"`?")
        })?;
        match parse_duration(&text) {
            Ok(d) if d <= max => Some(d),
            Ok(_) | Err(UnitError::OutOfRange) => {
                let d = self.error(v.span(), format!("{what} {} is out of range", text.trim()));
                d.expected = Some(format!("{what} from 0s to {}", fmt_duration(max)));
                None
            }
            Err(UnitError::Malformed) => {
                let d = self.error(v.span(), format!("`{text}` is not a duration"));
                d.expected = Some(EXPECTED.into());
                if parse_decimal(text.trim()).is_some() {
                    d.hint = Some(format!("did you mean \"{}ms\"?", text.trim()));
                }
                None
            }
        }
    }

    /// The text of a duration written in a string; anything else is an
    /// error that expects `expected`, and a bare number gets `bare_hint`
    /// (given the number as written).
    pub fn duration_text(
        &mut self,
        v: &Spanned<toml::Value>,
        expected: &str,
        bare_hint: impl FnOnce(&str) -> String,
    ) -> Option<String> {
        match v.get_ref() {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                let shown = other.to_string();
                let d = self.error(v.span(), format!("`{shown}` is not a duration"));
                d.expected = Some(expected.into());
                if matches!(other, toml::Value::Integer(_) | toml::Value::Float(_)) {
                    d.hint = Some(bare_hint(&shown));
                }
                None
            }
        }
    }

    /// A percentage in a string (`"0.1%"`, `"1%"`, `"100%"`), from 0 to
    /// 100. A bare number is refused, so that `1` never means 100 %.
    pub fn percentage(&mut self, v: &Spanned<toml::Value>, what: &str) -> Option<f64> {
        const EXPECTED: &str =
            "a percentage in quotes, from \"0%\" to \"100%\", like \"0.1%\" or \"1%\"";
        let (text, bare) = match v.get_ref() {
            toml::Value::String(s) => (s.clone(), parse_decimal(s.trim())),
            toml::Value::Integer(i) => (i.to_string(), Some(*i as f64)),
            toml::Value::Float(f) => (v.get_ref().to_string(), Some(*f)),
            other => (other.to_string(), None),
        };
        if let Some(x) = bare {
            let d = self.error(v.span(), format!("`{text}` is not a percentage"));
            d.expected = Some(EXPECTED.into());
            let shown = text.trim();
            d.hint = Some(if x > 0.0 && x <= 1.0 {
                // 0.07 * 100 is 7.000000000000001
                let pct = (x * 100.0 * 1e9).round() / 1e9;
                format!("{what} is a percentage in a string: write \"{shown}%\" for {shown} percent, or \"{pct}%\" for a probability of {shown}")
            } else {
                format!("{what} is a percentage in a string: write \"{shown}%\"")
            });
            return None;
        }
        match parse_percent(&text) {
            Ok(number) => Some(number),
            Err(UnitError::Malformed) => {
                let d = self.error(v.span(), format!("`{text}` is not a percentage"));
                d.expected = Some(EXPECTED.into());
                d.hint = Some("write a number and `%`, like \"1%\"".into());
                None
            }
            Err(UnitError::OutOfRange) => {
                let d = self.error(v.span(), format!("{what} {} is out of range", text.trim()));
                d.expected = Some(format!("{what} from 0% to 100%"));
                None
            }
        }
    }
}

/// The largest input file read: a topology, a gateway configuration or a
/// CloudFormation template (CloudFormation itself takes 1 MB at most).
/// A larger one, or one without an end (`/dev/zero`), is refused instead
/// of read into memory for ever.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a text file of at most [`MAX_INPUT_BYTES`].
pub fn read_input_text(path: &Path) -> std::io::Result<String> {
    read_text_at_most(path, MAX_INPUT_BYTES)?.ok_or_else(|| {
        std::io::Error::other(format!("it is larger than {} MiB", MAX_INPUT_BYTES >> 20))
    })
}

/// The text of the file at `path`, or `None` when it holds more than
/// `max` bytes (read no further than one byte past them).
pub(crate) fn read_text_at_most(path: &Path, max: u64) -> std::io::Result<Option<String>> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    Ok((text.len() as u64 <= max).then_some(text))
}

/// Reads a file for checking, or says why it cannot be read.
pub fn read_source(path: &Path) -> Result<SourceFile, Diagnostics> {
    match read_input_text(path) {
        Ok(text) => Ok(SourceFile::new(path, text)),
        Err(e) => {
            let src = SourceFile::new(path, String::new());
            Err(Diagnostics(vec![src.diagnostic(
                Severity::Error,
                None,
                format!("cannot read the file: {e}"),
            )]))
        }
    }
}

/// The closest of `candidates` to `name`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let f = SourceFile::new("x.toml", "a = 1\nbé = 2\n".to_string());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(6), (2, 1));
        // 'é' is two bytes but one column
        assert_eq!(f.line_col(9), (2, 3));
    }

    #[test]
    fn a_long_line_is_cut_around_the_offending_text() {
        // 100,000 characters on one line, the offending `x` far inside it
        let line = format!("{}x{}", "[".repeat(50_000), "]".repeat(49_999));
        let f = SourceFile::new("t.yaml", format!("{line}\n"));
        let d = f.diagnostic(Severity::Error, Some(50_000..50_001), "bad");
        let shown = d.to_string();
        assert!(shown.len() < 1_000, "{} bytes shown", shown.len());
        assert!(shown.starts_with("t.yaml:1:50001: error: bad"), "{shown}");
        let lines: Vec<&str> = shown.lines().collect();
        let (text, carets) = (lines[2], lines[3]);
        assert!(text.contains("…[[[") && text.ends_with("]]]…"), "{text}");
        // the caret stands under the `x`
        let x = text.chars().position(|c| c == 'x').expect("x shown");
        assert_eq!(
            carets.chars().position(|c| c == '^'),
            Some(x),
            "{text}\n{carets}"
        );
        // a short line is shown whole
        let f = SourceFile::new("t.toml", "a = \"b\"\n".to_string());
        let d = f.diagnostic(Severity::Error, Some(4..7), "bad");
        assert!(
            d.to_string().contains("1 | a = \"b\"\n  |     ^^^\n"),
            "{d}"
        );
    }

    #[test]
    fn suggestions_pick_the_nearest_name() {
        assert_eq!(
            did_you_mean("web-sgg", ["alb-sg", "web-sg"]),
            Some("web-sg")
        );
        assert_eq!(did_you_mean("zzzzzz", ["alb-sg", "web-sg"]), None);
    }
}
