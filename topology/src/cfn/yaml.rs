//! A template as a tree of [`Node`]s, each with its line and column.
//!
//! YAML and JSON templates both go through yaml-rust2's event parser (JSON
//! is YAML 1.2). Plain scalars resolve as in the YAML 1.2 core schema
//! (null, booleans, integers, floats; anything else is a string); quoted and
//! block scalars are strings, so `"10.0.0.0/16"` and `0.0.0.0/0` stay
//! strings. The CloudFormation short forms become the long forms the JSON
//! syntax uses: `!Ref X` is `{"Ref": X}`, `!GetAtt a.b` and `!GetAtt [a, b]`
//! are `{"Fn::GetAtt": [a, b]}`, `!Sub ...` is `{"Fn::Sub": ...}` and so on,
//! `!Condition X` is `{"Condition": X}`. A tagged scalar is always a string
//! (an empty one after a tag, as in `!GetAZs` alone, is null).
//!
//! Rejected, with the position: syntax errors, duplicate keys, keys that are
//! not scalars, unknown tags, aliases (CloudFormation does not accept them,
//! and expanding them could blow up), more than one document, nesting
//! deeper than [`MAX_DEPTH`].

use std::collections::HashSet;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diag::{Diagnostic, Diagnostics, Severity, SourceFile};

/// How deep lists and maps may nest (real templates stay under 20).
pub const MAX_DEPTH: usize = 100;

/// The short-form tags, with the long form each stands for.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Select", "Fn::Select"),
    ("GetAZs", "Fn::GetAZs"),
    ("Cidr", "Fn::Cidr"),
    ("If", "Fn::If"),
    ("Join", "Fn::Join"),
    ("Split", "Fn::Split"),
    ("FindInMap", "Fn::FindInMap"),
    ("Equals", "Fn::Equals"),
    ("Not", "Fn::Not"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Base64", "Fn::Base64"),
    ("ImportValue", "Fn::ImportValue"),
    ("Transform", "Fn::Transform"),
    ("Length", "Fn::Length"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("GetParam", "Fn::GetParam"),
];

/// The handle yaml-rust2 gives the standard `!!` tags.
const CORE_HANDLE: &str = "tag:yaml.org,2002:";

/// One value of the template with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub kind: NodeKind,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// For a value in a map: line and column of its key (so a resource can
    /// be reported at its logical id). `None` elsewhere.
    pub key_pos: Option<(usize, usize)>,
}

/// The value of a [`Node`].
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A map with string keys, in file order (keys are unique).
    Map(Vec<(String, Node)>),
}

impl Node {
    fn new(kind: NodeKind, line: usize, col: usize) -> Self {
        Node {
            kind,
            line,
            col,
            key_pos: None,
        }
    }

    /// A map entry.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(String, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as CloudFormation reads it: a string, or a number or a
    /// boolean written as text. `None` for null, lists and maps.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// What kind of value this is, for messages ("a list", "a string" ...).
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
        }
    }

    /// Line and column of the entry holding this node: its key when it is a
    /// map value, else the node itself.
    pub fn entry_pos(&self) -> (usize, usize) {
        self.key_pos.unwrap_or((self.line, self.col))
    }

    /// An error diagnostic at this node.
    pub fn error(&self, src: &SourceFile, msg: impl Into<String>) -> Diagnostic {
        let width = match &self.kind {
            NodeKind::Str(s) => s.chars().count().max(1),
            _ => 1,
        };
        error_at(src, self.line, self.col, width, msg)
    }

    /// An error diagnostic at this node's entry (its key in a map).
    pub fn entry_error(&self, src: &SourceFile, msg: impl Into<String>) -> Diagnostic {
        match self.key_pos {
            Some((line, col)) => error_at(src, line, col, 1, msg),
            None => self.error(src, msg),
        }
    }
}

/// An error at a 1-based line and column (in characters) of `src`,
/// underlining `width` characters.
pub fn error_at(
    src: &SourceFile,
    line: usize,
    col: usize,
    width: usize,
    msg: impl Into<String>,
) -> Diagnostic {
    if line == 0 {
        return src.diagnostic(Severity::Error, None, msg);
    }
    let text = src.text();
    let mut start = text.len();
    if let Some((line_off, line_text)) = text
        .split_inclusive('\n')
        .scan(0usize, |off, l| {
            let here = *off;
            *off += l.len();
            Some((here, l))
        })
        .nth(line - 1)
    {
        start = line_off
            + line_text
                .char_indices()
                .nth(col.saturating_sub(1))
                .map(|(i, _)| i)
                .unwrap_or(line_text.trim_end_matches(['\n', '\r']).len());
    }
    let end = text
        .get(start..)
        .and_then(|rest| rest.char_indices().nth(width).map(|(i, _)| start + i))
        .unwrap_or(text.len());
    src.diagnostic(Severity::Error, Some(start..end), msg)
}

/// Parses a template (YAML with the short forms, or JSON).
pub fn parse(src: &SourceFile) -> Result<Node, Diagnostics> {
    let mut b = Builder {
        src,
        stack: Vec::new(),
        root: None,
        errors: Vec::new(),
        documents: 0,
        stopped: false,
    };
    let mut parser = Parser::new_from_str(src.text());
    if let Err(e) = parser.load(&mut b, true) {
        let m = e.marker();
        b.errors.push(
            error_at(
                src,
                m.line(),
                m.col() + 1,
                1,
                format!("YAML syntax: {}", e.info()),
            )
            .expected("a YAML or JSON CloudFormation template"),
        );
    }
    if !b.errors.is_empty() {
        b.errors.sort_by_key(|d| (d.line, d.col));
        return Err(Diagnostics(b.errors));
    }
    match b.root {
        Some(n) => Ok(n),
        None => Err(Diagnostics(vec![src
            .diagnostic(Severity::Error, None, "the file is empty")
            .expected("a CloudFormation template")])),
    }
}

/// A map key waiting for its value.
struct PendingKey {
    /// `None` when the key was invalid (already reported): the value is
    /// dropped.
    name: Option<String>,
    pos: (usize, usize),
}

/// A list or map being read.
enum Frame {
    Seq {
        items: Vec<Node>,
        start: Marker,
        tag: Option<Tag>,
    },
    Map {
        entries: Vec<(String, Node)>,
        seen: HashSet<String>,
        key: Option<PendingKey>,
        start: Marker,
        tag: Option<Tag>,
    },
}

struct Builder<'a> {
    src: &'a SourceFile,
    stack: Vec<Frame>,
    root: Option<Node>,
    errors: Vec<Diagnostic>,
    documents: usize,
    /// Set after an error that makes the rest meaningless.
    stopped: bool,
}

fn pos(m: &Marker) -> (usize, usize) {
    (m.line(), m.col() + 1)
}

impl Builder<'_> {
    /// An error at a marker.
    fn at(&self, m: &Marker, width: usize, msg: impl Into<String>) -> Diagnostic {
        let (line, col) = pos(m);
        error_at(self.src, line, col, width, msg)
    }

    fn push_frame(&mut self, frame: Frame, m: &Marker) {
        if self.stack.len() >= MAX_DEPTH {
            let d = self
                .at(
                    m,
                    1,
                    format!("lists and maps nest deeper than {MAX_DEPTH} levels"),
                )
                .expected("a CloudFormation template");
            self.errors.push(d);
            self.stopped = true;
            return;
        }
        self.stack.push(frame);
    }

    fn scalar(&mut self, text: String, style: TScalarStyle, tag: Option<Tag>, m: &Marker) {
        let (line, col) = pos(m);
        if let Some(Frame::Map {
            key: key @ None,
            seen,
            start,
            ..
        }) = self.stack.last_mut()
        {
            if m.index() < start.index() {
                *start = *m;
            }
            let dup = !seen.insert(text.clone());
            *key = Some(PendingKey {
                name: (!dup).then(|| text.clone()),
                pos: (line, col),
            });
            if dup {
                let d = self
                    .at(m, text.chars().count(), format!("duplicate key `{text}`"))
                    .expected("each key once in a map");
                self.errors.push(d);
            }
            return;
        }
        let kind = match &tag {
            None if style == TScalarStyle::Plain => resolve_plain(&text),
            None => NodeKind::Str(text),
            Some(t) if t.handle == CORE_HANDLE => match core_tagged(&t.suffix, &text) {
                Some(k) => k,
                None => {
                    let d = self.at(
                        m,
                        text.chars().count(),
                        format!("`{text}` is not a valid !!{}", t.suffix),
                    );
                    self.errors.push(d);
                    NodeKind::Null
                }
            },
            Some(_) if style == TScalarStyle::Plain && text.is_empty() => NodeKind::Null,
            Some(_) => NodeKind::Str(text),
        };
        let node = Node::new(kind, line, col);
        let node = self.apply_tag(node, tag, m);
        self.attach(node);
    }

    /// Turns a short-form tag into its long form.
    fn apply_tag(&mut self, node: Node, tag: Option<Tag>, m: &Marker) -> Node {
        let Some(tag) = tag else { return node };
        if tag.handle == CORE_HANDLE {
            let ok = matches!(
                (tag.suffix.as_str(), &node.kind),
                ("seq", NodeKind::Seq(_)) | ("map", NodeKind::Map(_))
            ) || !matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_));
            if !ok {
                let d = self.at(
                    m,
                    1,
                    format!("tag !!{} does not fit {}", tag.suffix, node.describe()),
                );
                self.errors.push(d);
            }
            return node;
        }
        let name = tag.suffix.as_str();
        let long = if tag.handle == "!" {
            SHORT_FORMS
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, l)| *l)
        } else {
            None
        };
        let Some(long) = long else {
            let shown = if tag.handle == "!" {
                format!("!{name}")
            } else {
                format!("{}{}", tag.handle, name)
            };
            let (line, col) = (node.line, node.col);
            self.errors.push(
                error_at(self.src, line, col, 1, format!("unknown tag `{shown}`")).expected(
                    "a CloudFormation short form: !Ref, !GetAtt, !Sub, !Select, !GetAZs, !Cidr, \
                     !If, !Join, !Split, !FindInMap, !Equals, !Not, !And, !Or, !Base64, \
                     !ImportValue, !Condition",
                ),
            );
            return node;
        };
        let (line, col) = (node.line, node.col);
        let value = if long == "Fn::GetAtt" {
            match &node.kind {
                NodeKind::Str(s) => match s.split_once('.') {
                    Some((res, attr)) if !res.is_empty() && !attr.is_empty() => Node::new(
                        NodeKind::Seq(vec![
                            Node::new(NodeKind::Str(res.to_string()), line, col),
                            Node::new(
                                NodeKind::Str(attr.to_string()),
                                line,
                                col + res.chars().count() + 1,
                            ),
                        ]),
                        line,
                        col,
                    ),
                    _ => {
                        self.errors.push(
                            node.error(self.src, format!("`!GetAtt {s}` names no attribute"))
                                .expected("!GetAtt LogicalId.Attribute"),
                        );
                        node
                    }
                },
                _ => node,
            }
        } else {
            node
        };
        Node::new(NodeKind::Map(vec![(long.to_string(), value)]), line, col)
    }

    /// Adds a finished node to the list or map being read (or makes it the
    /// document).
    fn attach(&mut self, mut node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some(PendingKey { name, pos }) => {
                    if let Some(name) = name {
                        node.key_pos = Some(pos);
                        entries.push((name, node));
                    }
                }
                None => {
                    // A list or map used as a key.
                    *key = Some(PendingKey {
                        name: None,
                        pos: (node.line, node.col),
                    });
                    self.errors.push(
                        node.error(self.src, format!("a map key is {}", node.describe()))
                            .expected("a string key"),
                    );
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, m: Marker) {
        if self.stopped {
            return;
        }
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    let d = self
                        .at(&m, 3, "a second YAML document")
                        .expected("one template per file");
                    self.errors.push(d);
                    self.stopped = true;
                }
            }
            Event::Alias(_) => {
                let d = self
                    .at(&m, 1, "YAML aliases are not supported")
                    .expected("the value written out")
                    .hint("CloudFormation does not accept YAML anchors and aliases");
                self.errors.push(d);
                let (line, col) = pos(&m);
                self.attach(Node::new(NodeKind::Null, line, col));
            }
            Event::Scalar(text, style, _anchor, tag) => self.scalar(text, style, tag, &m),
            Event::SequenceStart(_anchor, tag) => {
                let frame = Frame::Seq {
                    items: Vec::new(),
                    start: m,
                    tag,
                };
                self.push_frame(frame, &m);
            }
            Event::MappingStart(_anchor, tag) => {
                let frame = Frame::Map {
                    entries: Vec::new(),
                    seen: HashSet::new(),
                    key: None,
                    start: m,
                    tag,
                };
                self.push_frame(frame, &m);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let (kind, start, tag) = match frame {
                    Frame::Seq { items, start, tag } => (NodeKind::Seq(items), start, tag),
                    Frame::Map {
                        entries,
                        start,
                        tag,
                        ..
                    } => (NodeKind::Map(entries), start, tag),
                };
                let (line, col) = pos(&start);
                let node = Node::new(kind, line, col);
                let node = self.apply_tag(node, tag, &start);
                self.attach(node);
            }
        }
    }
}

/// A plain scalar under the YAML 1.2 core schema.
fn resolve_plain(s: &str) -> NodeKind {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return NodeKind::Null,
        "true" | "True" | "TRUE" => return NodeKind::Bool(true),
        "false" | "False" | "FALSE" => return NodeKind::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeKind::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeKind::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeKind::Float(f64::NAN),
        _ => {}
    }
    if let Some(oct) = s.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            if let Ok(i) = i64::from_str_radix(oct, 8) {
                return NodeKind::Int(i);
            }
        }
        return NodeKind::Str(s.to_string());
    }
    if let Some(hex) = s.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(i) = i64::from_str_radix(hex, 16) {
                return NodeKind::Int(i);
            }
        }
        return NodeKind::Str(s.to_string());
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        // Too large for i64: keep the text rather than lose digits.
        return match s.parse::<i64>() {
            Ok(i) => NodeKind::Int(i),
            Err(_) => NodeKind::Str(s.to_string()),
        };
    }
    if is_core_float(digits) {
        if let Ok(f) = s.parse::<f64>() {
            return NodeKind::Float(f);
        }
    }
    NodeKind::Str(s.to_string())
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (sign already removed).
fn is_core_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp = count_digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

/// A scalar with a standard `!!` tag.
fn core_tagged(suffix: &str, text: &str) -> Option<NodeKind> {
    match suffix {
        "str" => Some(NodeKind::Str(text.to_string())),
        "null" => matches!(resolve_plain(text), NodeKind::Null).then_some(NodeKind::Null),
        "bool" => match resolve_plain(text) {
            k @ NodeKind::Bool(_) => Some(k),
            _ => None,
        },
        "int" => match resolve_plain(text) {
            k @ NodeKind::Int(_) => Some(k),
            _ => None,
        },
        "float" => match resolve_plain(text) {
            NodeKind::Int(i) => Some(NodeKind::Float(i as f64)),
            k @ NodeKind::Float(_) => Some(k),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Node, Diagnostics> {
        parse(&SourceFile::new("t.yaml", text.to_string()))
    }

    fn first_error(text: &str) -> Diagnostic {
        p(text).unwrap_err().0.remove(0)
    }

    /// The tree without positions, for comparisons.
    fn shape(n: &Node) -> String {
        match &n.kind {
            NodeKind::Null => "null".into(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Int(i) => format!("{i}"),
            NodeKind::Float(f) => format!("{f:?}"),
            NodeKind::Str(s) => format!("{s:?}"),
            NodeKind::Seq(s) => format!("[{}]", s.iter().map(shape).collect::<Vec<_>>().join(", ")),
            NodeKind::Map(m) => format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("{k}: {}", shape(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    #[test]
    fn core_schema_scalars() {
        let n = p("a: 1\nb: -2\nc: 1.5\nd: true\ne: ~\nf:\ng: '1'\nh: 0.0.0.0/0\ni: 10.0.0.0/16\n\
                   j: 2012-10-17\nk: 0x1F\nl: 1e3\nm: yes\nn: 99999999999999999999\no: .5\np: \"true\"\n")
            .unwrap();
        assert_eq!(
            shape(&n),
            "{a: 1, b: -2, c: 1.5, d: true, e: null, f: null, g: \"1\", h: \"0.0.0.0/0\", \
             i: \"10.0.0.0/16\", j: \"2012-10-17\", k: 31, l: 1000.0, m: \"yes\", \
             n: \"99999999999999999999\", o: 0.5, p: \"true\"}"
        );
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("Resources:\n  VPC:\n    Type: x\n").unwrap();
        let vpc = n.get("Resources").unwrap().get("VPC").unwrap();
        assert_eq!((vpc.line, vpc.col), (3, 5));
        assert_eq!(vpc.key_pos, Some((2, 3)));
        let t = vpc.get("Type").unwrap();
        assert_eq!((t.line, t.col), (3, 11));
    }

    #[test]
    fn short_forms_become_long_forms() {
        let n = p("a: !Ref X\nb: !GetAtt VPC.CidrBlock\nc: !GetAtt [Db, Endpoint.Address]\n\
                   d: !Sub '${AWS::Region}-x'\ne: !Select [0, !GetAZs '']\nf: !GetAZs\n\
                   g: !Condition C\nh: !If [C, 1, !Ref 'AWS::NoValue']\ni: !GetAtt Db.Endpoint.Address\n")
            .unwrap();
        assert_eq!(
            shape(&n),
            "{a: {Ref: \"X\"}, b: {Fn::GetAtt: [\"VPC\", \"CidrBlock\"]}, \
             c: {Fn::GetAtt: [\"Db\", \"Endpoint.Address\"]}, d: {Fn::Sub: \"${AWS::Region}-x\"}, \
             e: {Fn::Select: [0, {Fn::GetAZs: \"\"}]}, f: {Fn::GetAZs: null}, g: {Condition: \"C\"}, \
             h: {Fn::If: [\"C\", 1, {Ref: \"AWS::NoValue\"}]}, i: {Fn::GetAtt: [\"Db\", \"Endpoint.Address\"]}}"
        );
    }

    #[test]
    fn every_short_form_is_known() {
        for (short, long) in SHORT_FORMS {
            let n = p(&format!("a: !{short} x.y\n")).unwrap();
            assert!(n.get("a").unwrap().get(long).is_some(), "{short}");
        }
    }

    #[test]
    fn json_goes_through_the_same_parser() {
        let n =
            p("{\n  \"a\": {\"Ref\": \"X\"},\n\t\"b\": [1, null, \"0.0.0.0/0\", 2.5, false]\n}\n")
                .unwrap();
        assert_eq!(
            shape(&n),
            "{a: {Ref: \"X\"}, b: [1, null, \"0.0.0.0/0\", 2.5, false]}"
        );
        assert_eq!(n.get("b").unwrap().line, 3);
    }

    #[test]
    fn errors_have_positions() {
        let e = first_error("a: 1\na: 2\n");
        assert_eq!((e.line, e.col), (2, 1));
        assert!(e.message.contains("duplicate key `a`"));

        let e = first_error("a:\n  b: !Foo x\n");
        assert_eq!((e.line, e.col), (2, 11));
        assert!(e.message.contains("`!Foo`"), "{}", e.message);

        let e = first_error("a: [1\nb: c\n");
        assert!(e.message.starts_with("YAML syntax"));
        assert_eq!(e.line, 2);

        let e = first_error("a: &x 1\nb: *x\n");
        assert!(e.message.contains("aliases"));
        assert_eq!((e.line, e.col), (2, 4));

        let e = first_error("? [a]\n: 1\n");
        assert!(e.message.contains("map key is a list"));

        let e = first_error("a: 1\n---\nb: 2\n");
        assert!(e.message.contains("second YAML document"));

        let e = first_error("a: !GetAtt VPC\n");
        assert!(e.message.contains("names no attribute"));

        assert!(first_error("").message.contains("empty"));
        assert!(first_error("# only a comment\n").message.contains("empty"));
    }

    #[test]
    fn no_panic_on_odd_input() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert!(p(&deep).is_err());
        let deep_map = (0..300)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect::<String>();
        assert!(p(&deep_map).is_err());
        for text in [
            "\u{feff}a: 1",
            "a: \"\\xZZ\"",
            "a: !!int x",
            "- !!map [1]",
            "{",
            "]",
            "a: |\n x\n  y",
            "\t- a",
            "a: b: c",
            "é: !Ref é",
            "!Ref",
            "!GetAtt .",
            "? ? ?",
        ] {
            // either a tree or errors, each placed at a line and column
            if let Err(d) = p(text) {
                assert!(d.has_errors(), "{text:?}: refused without an error");
                for e in d.errors() {
                    assert!(e.line >= 1 && e.col >= 1, "{text:?}: {}", e.headline());
                    assert!(!e.message.trim().is_empty(), "{text:?}: an empty message");
                }
            }
        }
    }
}
