//! `--html FILE`: the report as one self-contained page — inline CSS and SVG, no script,
//! nothing fetched — with plots over time and the threshold verdicts.

use std::fmt::Write;

use super::report::{Latency, Report};
use super::timeline::Point;

/// Plot size in SVG units.
const W: f64 = 560.0;
const H: f64 = 170.0;
/// Left and bottom margins for the axis labels.
const ML: f64 = 48.0;
const MB: f64 = 22.0;

/// One line of a plot.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    values: Vec<(f64, Option<f64>)>,
}

/// Escapes text for HTML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

/// An SVG line plot over the run's seconds; gaps where a value is missing.
fn plot(id: &str, title: &str, unit: &str, series: &[Series<'_>]) -> String {
    let all: Vec<(f64, f64)> = series
        .iter()
        .flat_map(|s| s.values.iter().filter_map(|(t, v)| v.map(|v| (*t, v))))
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<figure class="plot" id="{id}"><figcaption>{}"#,
        esc(title)
    );
    for s in series {
        let _ = write!(
            out,
            r#" <span class="legend" style="color:{}">&#9679; {}</span>"#,
            s.color,
            esc(s.name)
        );
    }
    out.push_str("</figcaption>");
    if all.is_empty() {
        out.push_str(r#"<p class="none">no samples</p></figure>"#);
        return out;
    }
    let t_max = all.iter().map(|p| p.0).fold(1.0_f64, f64::max);
    let v_max = all.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1e-9);
    let x = |t: f64| ML + t / t_max * (W - ML - 6.0);
    let y = |v: f64| 6.0 + (1.0 - v / v_max) * (H - MB - 12.0);
    let _ = write!(
        out,
        r##"<svg viewBox="0 0 {W} {H}" role="img" aria-label="{}"><rect x="{ML}" y="6" width="{}" height="{}" fill="#0e1320"/>"##,
        esc(title),
        W - ML - 6.0,
        H - MB - 12.0
    );
    let _ = write!(
        out,
        r##"<text x="{}" y="14" class="axis" text-anchor="end">{} {}</text><text x="{}" y="{}" class="axis" text-anchor="end">0</text><text x="{ML}" y="{}" class="axis">0 s</text><text x="{}" y="{}" class="axis" text-anchor="end">{} s</text>"##,
        ML - 4.0,
        num(v_max),
        esc(unit),
        ML - 4.0,
        H - MB - 6.0,
        H - 4.0,
        W - 6.0,
        H - 4.0,
        num(t_max)
    );
    for s in series {
        // One polyline per run of consecutive values, so a gap stays a gap.
        let mut run: Vec<String> = Vec::new();
        let flush = |run: &mut Vec<String>, out: &mut String| {
            if run.len() >= 2 {
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{}" stroke-width="1.6" data-series="{}" points="{}"/>"#,
                    s.color,
                    esc(s.name),
                    run.join(" ")
                );
            } else if let Some(p) = run.first() {
                let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
                let _ = write!(
                    out,
                    r#"<circle r="2" cx="{px}" cy="{py}" fill="{}" data-series="{}"/>"#,
                    s.color,
                    esc(s.name)
                );
            }
            run.clear();
        };
        for (t, v) in &s.values {
            match v {
                Some(v) => run.push(format!("{:.1},{:.1}", x(*t), y(*v))),
                None => flush(&mut run, &mut out),
            }
        }
        flush(&mut run, &mut out);
    }
    out.push_str("</svg></figure>");
    out
}

fn series<'a>(
    points: &[Point],
    name: &'a str,
    color: &'a str,
    f: impl Fn(&Point) -> Option<f64>,
) -> Series<'a> {
    Series {
        name,
        color,
        values: points.iter().map(|p| (p.t_s, f(p))).collect(),
    }
}

fn latency(l: &Option<Latency>) -> String {
    l.map_or_else(
        || "no samples".into(),
        |l| {
            format!(
                "p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms ({} samples)",
                l.p50_ms, l.p99_ms, l.max_ms, l.samples
            )
        },
    )
}

/// The whole page.
pub fn render(report: &Report) -> String {
    let p = &report.timeline;
    let plots = [
        plot(
            "plot-bots",
            "Bots connected",
            "bots",
            &[series(p, "connected", "#5b6cff", |q| {
                Some(q.connected as f64)
            })],
        ),
        plot(
            "plot-delivery",
            "Tick delivery per second",
            "",
            &[series(p, "delivered / expected", "#2ecc40", |q| q.delivery)],
        ),
        plot(
            "plot-jitter",
            "Tick jitter",
            "ms",
            &[
                series(p, "p50", "#7fdbff", |q| q.jitter_p50_ms),
                series(p, "p99", "#ff4136", |q| q.jitter_p99_ms),
            ],
        ),
        plot(
            "plot-input",
            "Input latency",
            "ms",
            &[
                series(p, "p50", "#7fdbff", |q| q.input_p50_ms),
                series(p, "p99", "#ff851b", |q| q.input_p99_ms),
            ],
        ),
        plot(
            "plot-rss",
            "Server RSS",
            "MiB",
            &[series(p, "RSS", "#b10dc9", |q| {
                q.server_rss_kb.map(|kb| kb as f64 / 1024.0)
            })],
        ),
        plot(
            "plot-cpu",
            "Server CPU",
            "%",
            &[series(p, "CPU", "#ffdc00", |q| q.server_cpu_percent)],
        ),
    ];
    let verdict = if report.passed { "PASS" } else { "FAIL" };
    let mut rows = String::new();
    let mut row = |k: &str, v: String| {
        let _ = write!(rows, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    };
    row(
        "run",
        format!(
            "{:?}, {} bots against {}, {:.0} s",
            report.scenario, report.bots, report.url, report.elapsed_s
        ),
    );
    row(
        "bots connected",
        format!(
            "peak {}, at the end {}",
            report.bots_connected_peak, report.bots_connected_at_end
        ),
    );
    row("join failures", report.join_failures.to_string());
    row(
        "rooms · rounds · matches",
        format!(
            "{} · {} · {}",
            report.rooms_created, report.rounds_played, report.matches_played
        ),
    );
    row(
        "ticks delivered",
        match report.delivery_ratio {
            Some(r) => format!(
                "{} of {} ({:.4})",
                report.ticks_received, report.ticks_expected, r
            ),
            None => "—".into(),
        },
    );
    row("tick jitter", latency(&report.tick_jitter));
    row(
        "input latency",
        latency(if report.input_echo.is_some() {
            &report.input_echo
        } else {
            &report.input_to_tick
        }),
    );
    if let Some(s) = &report.server {
        row(
            "server",
            format!(
                "RSS {} → {} KiB (peak {}), CPU {:.1} %",
                s.rss_start_kb, s.rss_steady_kb, s.rss_peak_kb, s.cpu_percent
            ),
        );
    }
    let errors: Vec<String> = report
        .errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    row(
        "errors",
        if errors.is_empty() {
            "none".into()
        } else {
            errors.join(", ")
        },
    );
    let mut thresholds = String::new();
    for t in &report.thresholds {
        let _ = write!(
            thresholds,
            r#"<tr class="{}"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            if t.ok { "ok" } else { "missed" },
            esc(&t.name),
            num(t.limit),
            t.actual.map_or_else(|| "—".into(), num),
            if t.ok { "ok" } else { "missed" }
        );
    }
    if thresholds.is_empty() {
        thresholds.push_str(r#"<tr><td colspan="4">no thresholds were set</td></tr>"#);
    }
    format!(
        r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kurve-soak report: {verdict}</title>
<style>
body {{ background:#070a12; color:#e6e9f5; font:14px/1.45 system-ui, sans-serif; margin:24px; }}
h1 {{ font-size:20px; margin:0 0 4px; }}
.verdict {{ display:inline-block; padding:2px 10px; border-radius:6px; font-weight:700; }}
.verdict.PASS {{ background:#1d4d2a; color:#7dffa0; }} .verdict.FAIL {{ background:#5a1d1d; color:#ff9a9a; }}
table {{ border-collapse:collapse; margin:12px 0 20px; }}
th, td {{ text-align:left; padding:4px 10px; border-bottom:1px solid #222a44; }}
th {{ color:#8d97bd; font-weight:500; }}
tr.missed td {{ color:#ff9a9a; }} tr.ok td:last-child {{ color:#7dffa0; }}
.plots {{ display:grid; grid-template-columns:repeat(auto-fill, minmax(420px, 1fr)); gap:16px; }}
.plot {{ margin:0; background:#0b1020; border:1px solid #222a44; border-radius:10px; padding:10px; }}
figcaption {{ color:#8d97bd; margin-bottom:6px; }} .legend {{ margin-left:8px; font-size:12px; }}
svg {{ width:100%; height:auto; }} .axis {{ fill:#8d97bd; font-size:10px; }}
.none {{ color:#8d97bd; }}
</style></head><body>
<h1>kurve-soak report <span class="verdict {verdict}" id="verdict">{verdict}</span></h1>
<table id="summary">{rows}</table>
<h2>Thresholds</h2>
<table id="thresholds"><tr><th>threshold</th><th>limit</th><th>actual</th><th>verdict</th></tr>{thresholds}</table>
<h2>Over time</h2>
<div class="plots">{}</div>
</body></html>
"##,
        plots.join("\n")
    )
}
