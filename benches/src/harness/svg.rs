//! Plots as hand-written SVG: one line per engine, writers on a log x axis,
//! the figure on a log y axis. No plotting dependency.

use std::fmt::Write as _;

use super::RunResult;
use super::report::{Metric, fmt_size};

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// (x, y) points, x ascending; points with y <= 0 are skipped.
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;

/// Line colours, in series order (then repeated).
const COLOURS: &[&str] = &[
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Powers of ten from below `lo` to above `hi`.
fn decades(lo: f64, hi: f64) -> (f64, f64) {
    let a = lo.log10().floor();
    let b = hi.log10().ceil();
    (a, if b > a { b } else { a + 1.0 })
}

fn tick_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{}k", v / 1e3)
    } else {
        format!("{v}")
    }
}

/// A log-log line chart.
#[must_use]
pub fn chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let pts = || {
        series
            .iter()
            .flat_map(|s| s.points.iter())
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
    };
    let (x_lo, x_hi) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y_lo, y_hi) = pts().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (x_lo, x_hi) = if x_lo <= x_hi {
        (x_lo, x_hi)
    } else {
        (1.0, 2.0)
    };
    let (y_lo, y_hi) = if y_lo <= y_hi {
        (y_lo, y_hi)
    } else {
        (1.0, 10.0)
    };
    let (lx0, lx1) = (
        x_lo.log2(),
        if x_hi > x_lo {
            x_hi.log2()
        } else {
            x_lo.log2() + 1.0
        },
    );
    let (dy0, dy1) = decades(y_lo, y_hi);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let sx = |x: f64| LEFT + (x.log2() - lx0) / (lx1 - lx0) * plot_w;
    let sy = |y: f64| TOP + plot_h - (y.log10() - dy0) / (dy1 - dy0) * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"##,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Grid and y ticks: each decade, with 2 and 5 between.
    let mut d = dy0;
    while d <= dy1 {
        for m in [1.0, 2.0, 5.0] {
            let v = 10f64.powf(d) * m;
            if v.log10() > dy1 + 1e-9 {
                continue;
            }
            let y = sy(v);
            let (stroke, label) = if m == 1.0 {
                ("#cccccc", true)
            } else {
                ("#eeeeee", true)
            };
            let _ = writeln!(
                out,
                r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{stroke}"/>"#,
                LEFT + plot_w
            );
            if label {
                let _ = writeln!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                    LEFT - 6.0,
                    y + 4.0,
                    tick_label(v)
                );
            }
        }
        d += 1.0;
    }
    // x ticks at the points' x values.
    let mut xs: Vec<f64> = pts().map(|p| p.0).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    for x in xs {
        let px = sx(x);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#eeeeee"/>
<text x="{px:.1}" y="{:.1}" text-anchor="middle">{x}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>
<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">{}</text>"##,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0,
        escape(x_label),
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(y_label)
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let width = if i == 0 { 3 } else { 2 };
        let path: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.0 > 0.0 && p.1 > 0.0)
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        if !path.is_empty() {
            let _ = writeln!(
                out,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="{width}" points="{}"/>"#,
                path.join(" ")
            );
            for p in &path {
                let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = writeln!(out, r#"<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>"#);
            }
        }
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="{width}"/>
<text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 22.0,
            lx + 28.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// The chart of `metric` against writers for one payload size, one line
/// per engine (in `engines` order).
#[must_use]
pub fn durable_chart(
    runs: &[RunResult],
    engines: &[String],
    payload_len: usize,
    metric: Metric,
) -> String {
    let series: Vec<Series> = engines
        .iter()
        .map(|e| {
            let mut points: Vec<(f64, f64)> = runs
                .iter()
                .filter(|r| &r.engine == e && r.payload_len == payload_len)
                .map(|r| {
                    let y = match metric {
                        Metric::Commits => r.commits_per_sec,
                        Metric::P99 => r.latency.p99_us,
                    };
                    (r.writers as f64, y)
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            Series {
                name: e.clone(),
                points,
            }
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    let (what, axis) = match metric {
        Metric::Commits => ("commits/s", "durable appends per second (log)"),
        Metric::P99 => ("p99 latency", "p99 append latency, µs (log)"),
    };
    chart(
        &format!(
            "Durable appends, {} payloads: {what}",
            fmt_size(payload_len)
        ),
        "concurrent writers (each waits for durability)",
        axis,
        &series,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_has_a_line_and_a_legend_entry_per_series() {
        let series = vec![
            Series {
                name: "a<b".to_owned(),
                points: vec![(1.0, 100.0), (4.0, 1000.0), (16.0, 0.0)],
            },
            Series {
                name: "c".to_owned(),
                points: vec![(1.0, 50.0), (16.0, 20_000.0)],
            },
        ];
        let svg = chart("t", "x", "y", &series);
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a&lt;b"));
        // Two points of the first series (y = 0 is skipped), two of the
        // second.
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains(">10k<"));
        // An empty chart still renders.
        assert!(chart("t", "x", "y", &[]).contains("</svg>"));
    }
}
