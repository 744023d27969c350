//! The SVG plot of a run: load (offered and achieved requests a second)
//! with the capacity (targets in service) above, p99 latency below, on
//! one time axis. Hand-written SVG, no script, readable in a browser and
//! inline in `sim test --report`'s page.

use std::fmt::Write as _;

use super::stats::SecondRecord;
use crate::ops::report_html::escape;

const WIDTH: f64 = 900.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
const TOP: f64 = 40.0;
const GAP: f64 = 50.0;
const OFFERED: &str = "#3182ce";
const ACHIEVED: &str = "#2f855a";
const CAPACITY: &str = "#dd6b20";
const P99: &str = "#c53030";

/// An axis: its top and how many grid steps divide it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    top: f64,
    steps: u32,
}

/// A round axis for values up to `max`, with a tenth of headroom so
/// that a line at the maximum stays off the frame: its top is 1, 1.5, 2,
/// 2.5, 3, 4, 5, 6 or 8 times a power of ten, divided into round steps.
fn axis(max: f64) -> Axis {
    let max = max * 1.1;
    if max <= 0.0 || !max.is_finite() {
        return Axis { top: 1.0, steps: 5 };
    }
    let power = 10f64.powf(max.log10().floor());
    let (m, steps) = [
        (1.0, 5),
        (1.5, 3),
        (2.0, 4),
        (2.5, 5),
        (3.0, 3),
        (4.0, 4),
        (5.0, 5),
        (6.0, 3),
        (8.0, 4),
        (10.0, 5),
    ]
    .into_iter()
    .find(|(m, _)| m * power >= max)
    .unwrap_or((10.0, 5));
    Axis {
        top: m * power,
        steps,
    }
}

/// The axis of a count up to `max` (targets in service) with `steps`
/// grid steps, whole numbers at each: at least one above `max`.
fn count_axis(max: u32, steps: u32) -> Axis {
    let per_step = (max + 1).div_ceil(steps).max(1);
    Axis {
        top: f64::from(per_step * steps),
        steps,
    }
}

/// An axis value as its tick label.
fn label(v: f64) -> String {
    if v >= 10.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The plot of `seconds`, titled `title` (escaped here).
pub fn svg(title: &str, seconds: &[SecondRecord]) -> String {
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let n = seconds.len().max(1) as f64;
    let x = |i: f64| LEFT + plot_w * i / n;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        o,
        "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n<text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>",
        escape(title)
    );
    // panel 1: load and capacity
    let load_axis = axis(
        seconds
            .iter()
            .map(|s| s.offered.max(s.achieved) as f64)
            .fold(0.0, f64::max),
    );
    let cap_axis = count_axis(
        seconds.iter().filter_map(|s| s.capacity).max().unwrap_or(0),
        load_axis.steps,
    );
    let (load_max, cap_max) = (load_axis.top, cap_axis.top);
    frame(
        &mut o,
        TOP,
        "requests/s",
        load_axis,
        Some(("targets in service", cap_max)),
    );
    let step = |values: Vec<Option<f64>>, top: f64, y0: f64| -> String {
        let mut d = String::new();
        let mut pen_up = true;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    let y = y0 + PANEL - PANEL * v / top;
                    let cmd = if pen_up { 'M' } else { 'L' };
                    let _ = write!(
                        d,
                        "{cmd}{:.1},{y:.1} L{:.1},{y:.1} ",
                        x(i as f64),
                        x(i as f64 + 1.0)
                    );
                    pen_up = false;
                }
                None => pen_up = true,
            }
        }
        d
    };
    let offered = step(
        seconds.iter().map(|s| Some(s.offered as f64)).collect(),
        load_max,
        TOP,
    );
    let achieved = step(
        seconds.iter().map(|s| Some(s.achieved as f64)).collect(),
        load_max,
        TOP,
    );
    let capacity = step(
        seconds.iter().map(|s| s.capacity.map(f64::from)).collect(),
        cap_max,
        TOP,
    );
    let _ = writeln!(
        o,
        "<path d=\"{offered}\" fill=\"none\" stroke=\"{OFFERED}\" stroke-width=\"5\" stroke-opacity=\"0.5\"/>"
    );
    let _ = writeln!(o, "<path d=\"{achieved}\" fill=\"none\" stroke=\"{ACHIEVED}\" stroke-width=\"2\" stroke-dasharray=\"6 3\"/>");
    let _ = writeln!(
        o,
        "<path d=\"{capacity}\" fill=\"none\" stroke=\"{CAPACITY}\" stroke-width=\"2.5\"/>"
    );
    legend(
        &mut o,
        TOP - 8.0,
        &[
            (OFFERED, "offered"),
            (ACHIEVED, "achieved"),
            (CAPACITY, "capacity"),
        ],
    );
    // panel 2: p99 latency
    let top2 = TOP + PANEL + GAP;
    let p99 = |s: &SecondRecord| s.latency.map(|l| l.p99_ms);
    let lat_axis = axis(seconds.iter().filter_map(p99).fold(0.0, f64::max));
    let lat_max = lat_axis.top;
    frame(&mut o, top2, "p99 latency (ms)", lat_axis, None);
    let latency = step(seconds.iter().map(p99).collect(), lat_max, top2);
    let _ = writeln!(
        o,
        "<path d=\"{latency}\" fill=\"none\" stroke=\"{P99}\" stroke-width=\"2\"/>"
    );
    legend(&mut o, top2 - 8.0, &[(P99, "p99 latency")]);
    // the time axis
    let bottom = top2 + PANEL;
    let ticks = 10usize.min(seconds.len().max(1));
    for k in 0..=ticks {
        let i = (n * k as f64 / ticks as f64).round();
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}s</text>",
            x(i),
            bottom + 16.0,
            i
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">time (s)</text>\n</svg>",
        LEFT + plot_w / 2.0,
        bottom + 36.0
    );
    o
}

/// A panel's frame at `top`: its box, grid lines and left axis (up to
/// `max`), and a right axis when given.
fn frame(o: &mut String, top: f64, left_title: &str, left: Axis, right: Option<(&str, f64)>) {
    let w = WIDTH - LEFT - RIGHT;
    let _ = writeln!(
        o,
        "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{w}\" height=\"{PANEL}\" fill=\"none\" stroke=\"#a0aec0\"/>"
    );
    let steps = f64::from(left.steps);
    for k in 0..=left.steps {
        let share = f64::from(k) / steps;
        let v = left.top * share;
        let y = top + PANEL - PANEL * share;
        let _ = writeln!(
            o,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#edf2f7\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT + w,
            LEFT - 6.0,
            y + 4.0,
            label(v)
        );
        if let Some((_, rmax)) = right {
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{CAPACITY}\">{}</text>",
                LEFT + w + 6.0,
                y + 4.0,
                label(rmax * share)
            );
        }
    }
    let mid = top + PANEL / 2.0;
    let _ = writeln!(
        o,
        "<text transform=\"translate(16,{mid}) rotate(-90)\" text-anchor=\"middle\">{left_title}</text>"
    );
    if let Some((title, _)) = right {
        let _ = writeln!(
            o,
            "<text transform=\"translate({:.1},{mid}) rotate(90)\" text-anchor=\"middle\" fill=\"{CAPACITY}\">{title}</text>",
            WIDTH - 16.0
        );
    }
}

/// A line of coloured keys at `y`, from the right.
fn legend(o: &mut String, y: f64, keys: &[(&str, &str)]) {
    let mut x = WIDTH - RIGHT - 110.0 * keys.len() as f64;
    for (colour, name) in keys {
        let _ = writeln!(
            o,
            "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{y:.1}\">{name}</text>",
            y - 4.0,
            x + 20.0,
            y - 4.0,
            x + 25.0
        );
        x += 110.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::stats::Latency;

    fn second(i: u64, offered: u64, capacity: Option<u32>, p99: Option<f64>) -> SecondRecord {
        SecondRecord {
            second: i,
            offered,
            achieved: offered,
            latency: p99.map(|p| Latency {
                p50_ms: p / 2.0,
                p90_ms: p,
                p99_ms: p,
                p999_ms: p,
                max_ms: p,
            }),
            errors: Default::default(),
            capacity,
            targets: Default::default(),
        }
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(label(0.0), "0");
        assert_eq!(label(2.5), "2.5");
        assert_eq!(label(0.01), "0.01");
        assert_eq!(label(150.0), "150");
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let top = |max: f64| axis(max).top;
        assert_eq!(axis(0.0), Axis { top: 1.0, steps: 5 });
        assert_eq!(
            axis(352.0),
            Axis {
                top: 400.0,
                steps: 4
            }
        );
        assert_eq!(top(50.0), 60.0);
        assert_eq!(top(100.0), 150.0);
        assert_eq!(top(3.0), 4.0);
        assert_eq!(top(0.42), 0.5);
        // whole targets on the right axis, in the left axis's steps
        assert_eq!(count_axis(2, 4), Axis { top: 4.0, steps: 4 });
        assert_eq!(count_axis(4, 3), Axis { top: 6.0, steps: 3 });
        assert_eq!(count_axis(0, 5), Axis { top: 5.0, steps: 5 });
    }

    #[test]
    fn the_plot_draws_load_capacity_and_latency_and_escapes_its_title() {
        let s = vec![
            second(0, 100, Some(2), Some(3.0)),
            second(1, 352, Some(2), Some(40.0)),
            second(2, 352, None, None),
            second(3, 352, Some(4), Some(4.0)),
        ];
        let svg = svg("load <lab> & co", &s);
        assert!(svg.starts_with("<svg xmlns="));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("load &lt;lab&gt; &amp; co"));
        for words in [
            "requests/s",
            "targets in service",
            "p99 latency (ms)",
            "time (s)",
        ] {
            assert!(svg.contains(words), "{words}");
        }
        // the load axis ends at 400, the latency one at 50
        assert!(svg.contains(">400</text>") && svg.contains(">50</text>"));
        // capacity and latency are unknown in second 2: their lines break
        let capacity = svg
            .lines()
            .find(|l| l.contains(&format!("stroke=\"{CAPACITY}\" stroke-width=\"2.5\"")))
            .expect("capacity line");
        assert_eq!(capacity.matches('M').count(), 2, "{capacity}");
    }
}
