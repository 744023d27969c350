//! `sim test --report FILE.html`: the outcome of [`compare::run`] as one
//! self-contained HTML page — inline CSS, the topology drawing inline as
//! SVG, no script and nothing fetched.
//!
//! The page shows, per service, the static and the live matrix side by
//! side with every disagreement highlighted in both; the expectations with
//! what the analysis and the probes said; the BGP comparison; and the
//! topology. Every piece of text from the report is HTML-escaped.
//!
//! [`compare::run`]: crate::ops::compare::run

use std::collections::BTreeMap;
use std::fmt::Write as _;

use topology::analysis::{self, Service, Target, Verdict};
use topology::Topology;

use crate::ops::compare::{Check, Report};

/// The stylesheet, inline in the page.
const STYLE: &str = "
body { font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #1a202c; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #cbd5e0; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.verdict { font-weight: bold; padding: 2px 8px; border-radius: 4px; color: #fff; }
.passed { background: #2f855a; } .failed { background: #c53030; }
.pair { display: flex; gap: 16px; align-items: flex-start; overflow-x: auto; }
table { border-collapse: collapse; font-size: 11px; }
th, td { border: 1px solid #cbd5e0; padding: 2px 4px; text-align: center; }
th { background: #edf2f7; }
td.acc { background: #c6f6d5; color: #22543d; }
td.den { background: #fed7d7; color: #742a2a; }
td.nor { background: #feebc8; color: #7b341e; }
td.none { background: #f7fafc; color: #a0aec0; }
td.diff { outline: 3px solid #d53f8c; outline-offset: -3px; font-weight: bold; }
tr.bad td { background: #fff5f5; }
td.left, th.left { text-align: left; }
.legend span { display: inline-block; padding: 2px 6px; margin-right: 6px; border: 1px solid #cbd5e0; }
.graph svg { max-width: 100%; height: auto; }
ul.diffs li { color: #c53030; }
";

/// A flow drawn on the topology, for the page.
#[derive(Debug, Clone)]
pub struct Drawing {
    /// What it shows, e.g. `internet -> bastion tcp/22 (static DENIED, live accepted)`.
    pub title: String,
    /// Graphviz's SVG.
    pub svg: String,
}

/// The flows worth drawing: each check that failed (a disagreement or an
/// expectation not met), at most `max`, as (title, DOT of the topology
/// with the flow's static trace on it).
pub fn failed_flows(t: &Topology, r: &Report, max: usize) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for c in r
        .expectations
        .iter()
        .chain(r.matrix.iter())
        .filter(|c| !c.ok)
    {
        let title = format!(
            "{} -> {} {} (static {}, live {})",
            c.from,
            c.to,
            c.service,
            c.static_verdict,
            if c.live_accepted {
                "accepted"
            } else {
                "not accepted"
            }
        );
        if out.len() >= max || out.iter().any(|(t, _)| *t == title) {
            continue;
        }
        let (Some(from), Some(to), Some(service)) = (
            t.node_by_name(&c.from),
            target(t, &c.to),
            service_of(&c.service),
        ) else {
            continue;
        };
        let reach = analysis::reach(t, from, to, service);
        out.push((title, topology::graph::to_dot_with_trace(t, &reach)));
    }
    out
}

fn target(t: &Topology, to: &str) -> Option<Target> {
    match to.parse() {
        Ok(a) => Some(Target::Addr(a)),
        Err(_) => t.node_by_name(to).map(Target::Node),
    }
}

/// A service from its display form (`tcp/22`, `udp/53`, `icmp echo`,
/// `protocol 47`).
fn service_of(s: &str) -> Option<Service> {
    if s == "icmp echo" {
        return Some(Service::IcmpEcho);
    }
    if let Some(p) = s.strip_prefix("protocol ") {
        return Service::new(p, None).ok();
    }
    let (proto, port) = s.split_once('/')?;
    Service::new(proto, Some(port.parse().ok()?)).ok()
}

/// The page for `r`; `graph_svg` is the topology drawn by Graphviz (its
/// XML prologue is dropped), or `None` for a note that it is missing;
/// `traces` are the failed flows drawn (see [`failed_flows`]).
pub fn render(r: &Report, graph_svg: Option<&str>, traces: &[Drawing]) -> String {
    let mut o = String::new();
    let title = format!("vifgate sim test: {}", r.lab);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let (class, word) = if r.passed() {
        ("passed", "PASSED")
    } else {
        ("failed", "FAILED")
    };
    let _ = writeln!(
        o,
        "<h1>{} <span class=\"verdict {class}\">{word}</span></h1>",
        escape(&title)
    );
    let _ = writeln!(
        o,
        "<p>{}; {} BGP difference(s).</p>",
        escape(&r.summary()),
        r.bgp.differences.len()
    );
    matrices(&mut o, &r.matrix);
    expectations(&mut o, &r.expectations);
    bgp(&mut o, r);
    if !traces.is_empty() {
        let _ = writeln!(o, "<h2>The failed flows, as the analysis traces them</h2>");
        for d in traces {
            let _ = writeln!(
                o,
                "<h3>{}</h3>\n<div class=\"graph\">{}</div>",
                escape(&d.title),
                inline_svg(&d.svg)
            );
        }
    }
    let _ = writeln!(o, "<h2>Topology</h2>");
    match graph_svg {
        Some(svg) => {
            let _ = writeln!(o, "<div class=\"graph\">{}</div>", inline_svg(svg));
        }
        None => {
            let _ = writeln!(
                o,
                "<p>No drawing: Graphviz's <code>dot</code> is not installed.</p>"
            );
        }
    }
    o.push_str("</body>\n</html>\n");
    o
}

/// The static and live matrices, one pair per service.
fn matrices(o: &mut String, cells: &[Check]) {
    let _ = writeln!(o, "<h2>Matrix: static analysis and live probes</h2>");
    let _ = writeln!(
        o,
        "<p class=\"legend\"><span style=\"background:#c6f6d5\">ACC accepted</span><span style=\"background:#fed7d7\">DEN denied</span><span style=\"background:#feebc8\">NR no route</span><span style=\"outline:3px solid #d53f8c\">static and live disagree</span> · not probed: blank</p>"
    );
    let mut nodes: Vec<&str> = Vec::new();
    let mut services: BTreeMap<&str, BTreeMap<(&str, &str), &Check>> = BTreeMap::new();
    for c in cells {
        for n in [c.from.as_str(), c.to.as_str()] {
            if !nodes.contains(&n) {
                nodes.push(n);
            }
        }
        services
            .entry(c.service.as_str())
            .or_default()
            .insert((c.from.as_str(), c.to.as_str()), c);
    }
    if services.is_empty() {
        let _ = writeln!(o, "<p>No matrix cell was probed.</p>");
    }
    for (service, grid) in &services {
        let _ = writeln!(o, "<h3>{}</h3>\n<div class=\"pair\">", escape(service));
        for live in [false, true] {
            let _ = writeln!(
                o,
                "<table>\n<caption>{}</caption>\n<tr><th class=\"left\">from \\ to</th>",
                if live { "live" } else { "static" }
            );
            for to in &nodes {
                let _ = write!(o, "<th>{}</th>", escape(to));
            }
            o.push_str("</tr>\n");
            for from in &nodes {
                let _ = write!(o, "<tr><th class=\"left\">{}</th>", escape(from));
                for to in &nodes {
                    match grid.get(&(*from, *to)) {
                        Some(c) => cell(o, c, live),
                        None => o.push_str("<td class=\"none\"></td>"),
                    }
                }
                o.push_str("</tr>\n");
            }
            o.push_str("</table>\n");
        }
        o.push_str("</div>\n");
    }
}

/// One matrix cell: the static verdict, or what the probes got.
fn cell(o: &mut String, c: &Check, live: bool) {
    let (class, text) = if live {
        if c.live_accepted {
            ("acc", "ACC")
        } else {
            ("den", "—")
        }
    } else {
        verdict_cell(c.static_verdict)
    };
    let diff = if c.ok { "" } else { " diff" };
    let _ = write!(
        o,
        "<td class=\"{class}{diff}\" title=\"{}\">{text}</td>",
        escape(&c.live.join(", "))
    );
}

fn verdict_cell(v: Verdict) -> (&'static str, &'static str) {
    match v {
        Verdict::Accepted => ("acc", "ACC"),
        Verdict::Denied => ("den", "DEN"),
        Verdict::NoRoute => ("nor", "NR"),
    }
}

/// The expectations: what was asked, what the analysis and the probes said.
fn expectations(o: &mut String, checks: &[Check]) {
    let _ = writeln!(o, "<h2>Expectations</h2>");
    if checks.is_empty() {
        let _ = writeln!(o, "<p>The topology has no expectation.</p>");
        return;
    }
    let _ = writeln!(
        o,
        "<table>\n<tr><th></th><th class=\"left\">from</th><th class=\"left\">to</th><th>service</th><th>expected</th><th>static</th><th>live</th><th class=\"left\">probes</th></tr>"
    );
    for c in checks {
        let (sclass, stext) = verdict_cell(c.static_verdict);
        let (eclass, etext) = c.expected.map(verdict_cell).unwrap_or(("none", "-"));
        let (lclass, ltext) = if c.live_accepted {
            ("acc", "ACC")
        } else {
            ("den", "not accepted")
        };
        let _ = writeln!(
            o,
            "<tr{}><td>{}</td><td class=\"left\">{}</td><td class=\"left\">{}</td><td>{}</td><td class=\"{eclass}\">{etext}</td><td class=\"{sclass}\">{stext}</td><td class=\"{lclass}\">{ltext}</td><td class=\"left\">{}</td></tr>",
            if c.ok { "" } else { " class=\"bad\"" },
            if c.ok { "ok" } else { "<b>FAIL</b>" },
            escape(&c.from),
            escape(&c.to),
            escape(&c.service),
            escape(&c.live.join(", "))
        );
    }
    o.push_str("</table>\n");
}

/// The lab's BGP daemons against the prediction.
fn bgp(o: &mut String, r: &Report) {
    let _ = writeln!(o, "<h2>BGP: prediction and daemons</h2>");
    let b = &r.bgp;
    if !b.compared {
        let _ = writeln!(
            o,
            "<p>The topology runs no BGP session: nothing compared.</p>"
        );
        return;
    }
    let _ = writeln!(
        o,
        "<p>{} session(s) and {} route(s) compared with {} daemon(s) in {:.2} s: <b>{} difference(s)</b>.</p>",
        b.sessions,
        b.routes,
        b.daemons,
        b.seconds,
        b.differences.len()
    );
    if !b.differences.is_empty() {
        o.push_str("<ul class=\"diffs\">\n");
        for d in &b.differences {
            let _ = writeln!(o, "<li>{}</li>", escape(d));
        }
        o.push_str("</ul>\n");
    }
}

/// `page` (from [`render`]) with a section showing the plot of the last
/// `sim load` in the lab (`svg`, from `sim::load::plot`), before the end
/// of its body.
pub fn with_load_plot(page: &str, svg: &str) -> String {
    let section = format!(
        "<h2>Load</h2>\n<p>The last <code>vifgate sim load</code> in this lab: offered and achieved requests a second, targets in service, p99 latency.</p>\n<div class=\"graph\">{}</div>\n",
        inline_svg(svg)
    );
    match page.rfind("</body>") {
        Some(i) => format!("{}{section}{}", &page[..i], &page[i..]),
        None => format!("{page}{section}"),
    }
}

/// Graphviz's SVG from its `<svg` element on (the XML declaration and the
/// DOCTYPE, which names an external DTD, are dropped).
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map(|i| &svg[i..]).unwrap_or("")
}

/// Text as HTML: `& < > " '` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bgp::check::BgpCheck;

    #[test]
    fn a_load_plot_goes_in_the_page_before_its_end() {
        let page = "<html><body><h1>x</h1>\n</body>\n</html>\n";
        let svg = "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><text>load</text></svg>";
        let with = with_load_plot(page, svg);
        let section = with.find("<h2>Load</h2>").expect("a Load section");
        assert!(section < with.find("</body>").expect("body ends"));
        assert!(with.contains("<div class=\"graph\"><svg xmlns"));
        assert!(!with.contains("<?xml"), "the XML prologue is dropped");
    }

    fn check(from: &str, to: &str, v: Verdict, live: bool, expected: Option<Verdict>) -> Check {
        let ok = (v == Verdict::Accepted) == live
            && expected.is_none_or(|e| (e == Verdict::Accepted) == live);
        Check {
            from: from.into(),
            to: to.into(),
            service: "tcp/22".into(),
            static_verdict: v,
            expected,
            live_accepted: live,
            live: vec![format!(
                "10.0.0.1: {}",
                if live { "connected" } else { "timeout" }
            )],
            ok,
        }
    }

    fn report() -> Report {
        let matrix = vec![
            check("office-pc", "bastion", Verdict::Accepted, true, None),
            // the disagreement
            check("internet", "bastion", Verdict::Denied, true, None),
            check("bastion", "office-pc", Verdict::NoRoute, false, None),
        ];
        let expectations = vec![
            check(
                "office-pc",
                "bastion",
                Verdict::Accepted,
                true,
                Some(Verdict::Accepted),
            ),
            check(
                "internet",
                "bastion",
                Verdict::Denied,
                true,
                Some(Verdict::Denied),
            ),
        ];
        Report {
            lab: "lab <one> & \"two\"".into(),
            matrix_cells: 6,
            probed_cells: 3,
            probes: 4,
            reprobed: 1,
            disagreements: 1,
            failed_expectations: 1,
            matrix,
            expectations,
            seconds: 1.25,
            bgp: BgpCheck {
                compared: true,
                sessions: 2,
                routes: 5,
                daemons: 2,
                differences: vec!["vgw: route 10.9.0.0/16 <missing>".into()],
                seconds: 0.5,
            },
        }
    }

    const SVG: &str = "<?xml version=\"1.0\"?>\n<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n<svg width=\"10pt\"><g id=\"graph0\"><text>bastion</text></g></svg>\n";

    #[test]
    fn the_page_has_both_matrices_with_the_disagreement_marked() {
        let html = render(&report(), Some(SVG), &[]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(
            html.contains("<caption>static</caption>") && html.contains("<caption>live</caption>")
        );
        // the disagreeing cell is marked in both tables, and only it
        assert_eq!(html.matches("class=\"den diff\"").count(), 1, "static DEN");
        assert_eq!(html.matches("class=\"acc diff\"").count(), 1, "live ACC");
        assert!(html.contains("class=\"nor\""), "static NO_ROUTE");
        assert!(html.contains("<span class=\"verdict failed\">FAILED</span>"));
        assert!(html.contains("1 disagreement(s), 1 failed expectation(s); 1 BGP difference(s)"));
    }

    #[test]
    fn expectations_and_bgp_are_listed() {
        let html = render(&report(), Some(SVG), &[]);
        let table = &html[html.find("<h2>Expectations</h2>").expect("section")..];
        assert_eq!(table.matches("<tr class=\"bad\">").count(), 1, "one failed");
        assert!(table.contains("<b>FAIL</b>"));
        assert!(html.contains("2 session(s) and 5 route(s) compared with 2 daemon(s)"));
        assert!(html.contains("<li>vgw: route 10.9.0.0/16 &lt;missing&gt;</li>"));
    }

    #[test]
    fn text_is_escaped_and_nothing_is_fetched() {
        let html = render(&report(), Some(SVG), &[]);
        assert!(html.contains("lab &lt;one&gt; &amp; &quot;two&quot;"));
        assert!(!html.contains("<one>"));
        // the SVG inline, without its external DTD
        assert!(html.contains("<div class=\"graph\"><svg width=\"10pt\">"));
        assert!(!html.contains("<!DOCTYPE svg") && !html.contains("<?xml"));
        for external in ["src=", "href=", "<link", "@import", "url(", "<script"] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn without_graphviz_or_bgp_the_page_says_so() {
        let mut r = report();
        r.bgp = BgpCheck::none();
        r.disagreements = 0;
        r.failed_expectations = 0;
        r.matrix.retain(|c| c.ok);
        r.expectations.retain(|c| c.ok);
        let html = render(&r, None, &[]);
        assert!(html.contains("<span class=\"verdict passed\">PASSED</span>"));
        assert!(html.contains("runs no BGP session"));
        assert!(html.contains("<code>dot</code> is not installed"));
        assert!(!html.contains(" diff\""));
    }

    #[test]
    fn failed_flows_are_traced_and_drawn() {
        let t = topology::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/yeohaengjigi.toml"
        ))
        .expect("the example")
        .topology;
        let r = report();
        let flows = failed_flows(&t, &r, 10);
        // one failed flow, in both the matrix and the expectations: drawn once
        assert_eq!(
            flows.len(),
            1,
            "{:?}",
            flows.iter().map(|f| &f.0).collect::<Vec<_>>()
        );
        let (title, dot) = &flows[0];
        assert_eq!(
            title,
            "internet -> bastion tcp/22 (static DENIED, live accepted)"
        );
        assert!(
            dot.contains("bastion-sg"),
            "the deciding rule on the drawing"
        );
        assert!(failed_flows(&t, &r, 0).is_empty());
        let page = render(
            &r,
            Some(SVG),
            &[Drawing {
                title: title.clone(),
                svg: SVG.replace("graph0", "trace0"),
            }],
        );
        assert!(
            page.contains("<h3>internet -&gt; bastion tcp/22 (static DENIED, live accepted)</h3>")
        );
        assert!(page.contains("<g id=\"trace0\">"));
    }

    #[test]
    fn services_read_back_from_their_names() {
        for s in [
            Service::Tcp(22),
            Service::Udp(53),
            Service::IcmpEcho,
            Service::Proto(47),
        ] {
            assert_eq!(
                service_of(&s.to_string()).map(|x| x.to_string()),
                Some(s.to_string())
            );
        }
        assert!(service_of("tcp/x").is_none());
    }

    #[test]
    fn escape_covers_the_five() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
