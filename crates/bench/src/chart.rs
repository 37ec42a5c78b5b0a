//! `skyhook-bench chart`: draws result lines of any scenarios as one SVG.
//!
//! Runs of the same scenario with the same parameters form a group, and every bar is the
//! median over its runs. Throughput bars use a linear scale. Latency bars use a log scale
//! because p50 and p99 are often orders of magnitude apart. The SVG needs only rect, text
//! and line, so it is written by hand.

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use serde_json::Value;

/// What the chart takes from the lines of one scenario.
struct Spec {
    scenario: &'static str,
    /// (key, label) of the values that tell runs apart.
    params: &'static [(&'static str, &'static str)],
    /// (key, bar label) of its main rates.
    rates: &'static [(&'static str, &'static str)],
}

const SPECS: &[Spec] = &[
    Spec {
        scenario: "e2e",
        params: &[("messages", "n"), ("concurrency", "c")],
        rates: &[
            ("delivered_msg_per_s", "delivered msg/s"),
            ("ingest_msg_per_s", "ingest msg/s"),
        ],
    },
    Spec {
        scenario: "latency",
        params: &[("target_rate", "rate")],
        rates: &[("achieved_delivered_per_s", "delivered msg/s")],
    },
    Spec {
        scenario: "fanout",
        params: &[("messages", "n"), ("endpoints", "endpoints")],
        rates: &[("deliveries_per_s", "deliveries/s")],
    },
    Spec {
        scenario: "slow-endpoint",
        params: &[
            ("messages", "n"),
            ("fast_endpoints", "fast"),
            ("slow_delay_ms", "slow_ms"),
        ],
        rates: &[
            ("baseline_fast_deliveries_per_s", "fast/s, baseline"),
            ("control_fast_deliveries_per_s", "fast/s, control"),
            ("with_slow_fast_deliveries_per_s", "fast/s, with slow"),
        ],
    },
    Spec {
        scenario: "backlog",
        params: &[("messages", "n")],
        rates: &[("drain_msg_per_s", "drain msg/s")],
    },
];

/// (key in `latency_ms`, bar label).
const PERCENTILES: &[(&str, &str)] = &[("p50_ms", "p50"), ("p90_ms", "p90"), ("p99_ms", "p99")];

/// The runs of one scenario with the same parameters, reduced to medians.
#[derive(Debug, PartialEq)]
struct Group {
    /// E.g. `e2e n=200 c=5 (3 runs)`.
    label: String,
    rates: Vec<(&'static str, f64)>,
    latency: Vec<(&'static str, f64)>,
}

/// Reads result lines from `input` and writes their chart to `output` (default: stdout).
pub fn run(input: &Path, output: Option<&Path>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let results = parse(&text).with_context(|| input.display().to_string())?;
    if results.is_empty() {
        bail!("{}: no result lines", input.display());
    }
    let svg = svg(&groups(&results));
    match output {
        Some(path) => {
            std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))
        }
        None => {
            print!("{svg}");
            Ok(())
        }
    }
}

/// The result lines of `text`; blank lines are skipped.
fn parse(text: &str) -> anyhow::Result<Vec<Value>> {
    let mut results = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let v: Value =
            serde_json::from_str(line).map_err(|e| anyhow!("line {n}: not JSON ({e})"))?;
        if !v.get("scenario").is_some_and(Value::is_string) {
            bail!("line {n}: no \"scenario\"");
        }
        results.push(v);
    }
    Ok(results)
}

/// Groups `results` by scenario and parameters, in order of first appearance.
fn groups(results: &[Value]) -> Vec<Group> {
    let mut by_key: Vec<(String, Option<&Spec>, Vec<&Value>)> = Vec::new();
    for v in results {
        let scenario = v["scenario"].as_str().unwrap_or_default();
        let spec = SPECS.iter().find(|s| s.scenario == scenario);
        let mut key = scenario.to_string();
        // The store and the number of nodes tell runs apart in every scenario.
        if let Some(store) = v["store"].as_str() {
            key += &format!(" {store}");
        }
        if let Some(n) = v["nodes"].as_u64().filter(|n| *n > 1) {
            key += &format!(" {n} nodes");
        }
        for (k, label) in spec.map_or(&[][..], |s| s.params) {
            key += &format!(" {label}={}", v[*k]);
        }
        match by_key.iter_mut().find(|(k, ..)| *k == key) {
            Some((.., runs)) => runs.push(v),
            None => by_key.push((key, spec, vec![v])),
        }
    }
    by_key
        .into_iter()
        .map(|(key, spec, runs)| {
            let rates = spec.map_or(&[][..], |s| s.rates).iter();
            Group {
                label: match runs.len() {
                    1 => key,
                    n => format!("{key} ({n} runs)"),
                },
                rates: rates
                    .filter_map(|&(k, label)| Some((label, median_at(&runs, &[k])?)))
                    .collect(),
                // Zero means no samples (a run that delivered nothing); a log scale has no 0.
                latency: PERCENTILES
                    .iter()
                    .filter_map(|&(k, label)| Some((label, median_at(&runs, &["latency_ms", k])?)))
                    .filter(|&(_, v)| v > 0.0)
                    .collect(),
            }
        })
        .collect()
}

/// The median of the numbers at `path` in `runs`; runs without one are left out.
fn median_at(runs: &[&Value], path: &[&str]) -> Option<f64> {
    let mut xs: Vec<f64> = runs
        .iter()
        .filter_map(|r| path.iter().fold(*r, |v, k| &v[*k]).as_f64())
        .collect();
    median(&mut xs)
}

fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

const WIDTH: f64 = 800.0;
/// Bars start here; their labels end just left of it.
const PLOT_X: f64 = 210.0;
/// The longest bar, leaving room for its value on the right.
const PLOT_W: f64 = 500.0;
const ROW: f64 = 18.0;
const TITLE: &str = " font-size=\"14\" font-weight=\"bold\"";
const COLORS: [&str; 3] = ["#4e79a7", "#f28e2b", "#e15759"];

enum Scale {
    Linear {
        max: f64,
    },
    /// Decades 10^lo to 10^hi.
    Log {
        lo: i32,
        hi: i32,
    },
}

impl Scale {
    /// Decades around `min..=max` (both > 0), so that no bar has zero length.
    fn log(min: f64, max: f64) -> Self {
        Scale::Log {
            lo: min.log10().ceil() as i32 - 1,
            hi: max.log10().ceil() as i32,
        }
    }

    /// Where `v` falls along the plot, from 0 to 1.
    fn frac(&self, v: f64) -> f64 {
        let f = match *self {
            Scale::Linear { max } if max > 0.0 => v / max,
            Scale::Linear { .. } => 0.0,
            Scale::Log { lo, hi } => (v.log10() - f64::from(lo)) / f64::from(hi - lo),
        };
        f.clamp(0.0, 1.0)
    }
}

fn svg(groups: &[Group]) -> String {
    let mut out = Vec::new();
    let mut y = 0.0;
    let rates: Vec<_> = groups
        .iter()
        .filter(|g| !g.rates.is_empty())
        .map(|g| (g.label.as_str(), g.rates.as_slice()))
        .collect();
    if !rates.is_empty() {
        let max = values(&rates).fold(0.0, f64::max);
        let title = "Throughput per second (median of runs)";
        y = section(&mut out, y, title, &rates, &Scale::Linear { max }, "");
    }
    let latency: Vec<_> = groups
        .iter()
        .filter(|g| !g.latency.is_empty())
        .map(|g| (g.label.as_str(), g.latency.as_slice()))
        .collect();
    if !latency.is_empty() {
        let min = values(&latency).fold(f64::INFINITY, f64::min);
        let max = values(&latency).fold(0.0, f64::max);
        let title = "Latency percentiles, ms (log scale, median of runs)";
        y = section(&mut out, y, title, &latency, &Scale::log(min, max), " ms");
    }
    let height = y + 12.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         {}\n{}\n</svg>\n",
        rect(0.0, 0.0, WIDTH, height, "white"),
        out.join("\n")
    )
}

type Bars<'a> = (&'a str, &'a [(&'static str, f64)]);

fn values(groups: &[Bars]) -> impl Iterator<Item = f64> {
    groups.iter().flat_map(|(_, bars)| bars.iter().map(|b| b.1))
}

/// Draws `title`, the axis, and each group's label above its bars; returns the y below.
fn section(
    out: &mut Vec<String>,
    y: f64,
    title: &str,
    groups: &[Bars],
    scale: &Scale,
    unit: &str,
) -> f64 {
    out.push(text(10.0, y + 22.0, TITLE, title));
    let top = y + 30.0;
    let bars: usize = groups.iter().map(|(_, b)| b.len()).sum();
    let bottom = top + groups.len() as f64 * (ROW + 4.0) + bars as f64 * ROW + 6.0;
    // The axis first, so that the bars are drawn over it.
    match *scale {
        Scale::Linear { .. } => out.push(line(PLOT_X, top, PLOT_X, bottom)),
        Scale::Log { lo, hi } => {
            for e in lo..=hi {
                let x = PLOT_X + scale.frac(10f64.powi(e)) * PLOT_W;
                out.push(line(x, top, x, bottom));
                let tick = format!("{}", 10f64.powi(e));
                out.push(text(x, bottom + 14.0, " text-anchor=\"middle\"", &tick));
            }
        }
    }
    let mut y = top;
    for (label, bars) in groups {
        y += ROW + 4.0;
        out.push(text(10.0, y, " font-weight=\"bold\"", label));
        for (i, &(name, v)) in bars.iter().enumerate() {
            y += ROW;
            let w = scale.frac(v) * PLOT_W;
            out.push(text(PLOT_X - 6.0, y, " text-anchor=\"end\"", name));
            out.push(rect(PLOT_X, y - 11.0, w, 14.0, COLORS[i % COLORS.len()]));
            let value = format!("{}{unit}", fmt_num(v));
            out.push(text(PLOT_X + w + 4.0, y, "", &value));
        }
    }
    bottom + 14.0
}

fn text(x: f64, y: f64, attrs: &str, s: &str) -> String {
    format!(
        "<text x=\"{x:.1}\" y=\"{y:.1}\"{attrs}>{}</text>",
        escape(s)
    )
}

fn rect(x: f64, y: f64, w: f64, h: f64, fill: &str) -> String {
    format!("<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"/>")
}

fn line(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    format!("<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" stroke=\"#ccc\"/>")
}

/// At least three significant digits: 4419, 52.3, 2.85, 0.412.
fn fmt_num(v: f64) -> String {
    let decimals = match v.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{v:.decimals$}")
}

/// `s` as XML text or attribute content. Control characters other than tab and line
/// breaks are not allowed in XML 1.0, so they become U+FFFD.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e2e(delivered: f64, p50: f64) -> Value {
        json!({
            "scenario": "e2e", "messages": 200, "concurrency": 5,
            "delivered_msg_per_s": delivered, "ingest_msg_per_s": 2.0 * delivered,
            "latency_ms": {"p50_ms": p50, "p90_ms": 2.0 * p50, "p99_ms": 100.0 * p50, "max_ms": 1e6},
        })
    }

    #[test]
    fn parse_skips_blank_lines_and_names_bad_ones() {
        let text = format!("{}\n\n   \n{}\n", e2e(1.0, 1.0), e2e(2.0, 1.0));
        assert_eq!(parse(&text).unwrap().len(), 2);
        let err = parse("{\"scenario\":\"e2e\"}\n\nnot json\n").unwrap_err();
        assert!(err.to_string().starts_with("line 3: not JSON"), "{err}");
        let err = parse("{\"scenario\":\"e2e\"}\n{\"rate\":1}\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: no \"scenario\"");
        assert!(parse("[1]").is_err());
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn runs_with_the_same_parameters_are_one_group_of_medians() {
        let mut other = e2e(50.0, 9.0);
        other["concurrency"] = json!(50);
        let mut dead = json!({"scenario": "backlog", "messages": 10, "drain_msg_per_s": 0.0});
        dead["latency_ms"] = json!({"p50_ms": 0.0});
        let results = [e2e(10.0, 1.0), e2e(30.0, 3.0), other, e2e(20.0, 2.0), dead];
        let got = groups(&results);
        let labels: Vec<&str> = got.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(
            labels,
            ["e2e n=200 c=5 (3 runs)", "e2e n=200 c=50", "backlog n=10"]
        );
        assert_eq!(
            got[0].rates,
            [("delivered msg/s", 20.0), ("ingest msg/s", 40.0)]
        );
        assert_eq!(got[0].latency, [("p50", 2.0), ("p90", 4.0), ("p99", 200.0)]);
        assert_eq!(got[2].rates, [("drain msg/s", 0.0)]);
        assert!(got[2].latency.is_empty(), "zero is no sample");

        // The store and the node count are part of every group.
        let mut pg = e2e(10.0, 1.0);
        pg["store"] = json!("postgres");
        let mut pg2 = pg.clone();
        pg2["nodes"] = json!(2);
        let got = groups(&[pg, pg2, e2e(10.0, 1.0)]);
        let labels: Vec<&str> = got.iter().map(|g| g.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "e2e postgres n=200 c=5",
                "e2e postgres 2 nodes n=200 c=5",
                "e2e n=200 c=5"
            ]
        );

        let latency =
            json!({"scenario": "latency", "target_rate": 500, "achieved_delivered_per_s": 499.9});
        let odd = json!({"scenario": "made-up", "latency_ms": {"p99_ms": 5.0}});
        let got = groups(&[latency, odd]);
        assert_eq!(got[0].label, "latency rate=500");
        assert_eq!(got[0].rates, [("delivered msg/s", 499.9)]);
        assert_eq!(got[1].label, "made-up");
        assert_eq!(got[1].latency, [("p99", 5.0)]);
    }

    #[test]
    fn chart_keys_are_the_scenarios_keys() {
        for spec in SPECS {
            let keys = crate::scenarios::scenario_keys(spec.scenario);
            for (k, _) in spec.params.iter().chain(spec.rates) {
                assert!(keys.contains(k), "{} has no {k}", spec.scenario);
            }
        }
        let names: Vec<&str> = SPECS.iter().map(|s| s.scenario).collect();
        assert_eq!(
            names,
            ["e2e", "latency", "fanout", "slow-endpoint", "backlog"]
        );
    }

    #[test]
    fn bars_scale_linearly_or_by_decade() {
        let lin = Scale::Linear { max: 200.0 };
        assert_eq!(lin.frac(50.0), 0.25);
        assert_eq!(lin.frac(200.0), 1.0);
        assert_eq!(Scale::Linear { max: 0.0 }.frac(0.0), 0.0);
        let log = Scale::log(1.0, 250.0);
        // A decade below the minimum, so that its bar has a length.
        assert!(matches!(log, Scale::Log { lo: -1, hi: 3 }));
        assert_eq!(log.frac(0.1), 0.0);
        assert_eq!(log.frac(10.0), 0.5);
        assert_eq!(log.frac(1000.0), 1.0);
        assert!(matches!(Scale::log(0.3, 0.3), Scale::Log { lo: -1, hi: 0 }));
    }

    #[test]
    fn numbers_and_text_are_written_for_svg() {
        assert_eq!(fmt_num(4419.23), "4419");
        assert_eq!(fmt_num(52.34), "52.3");
        assert_eq!(fmt_num(2.849), "2.85");
        assert_eq!(fmt_num(0.4121), "0.412");
        assert_eq!(format!("{}", 10f64.powi(-2)), "0.01");
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}\t"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{fffd}\t"
        );
    }

    #[test]
    fn svg_has_every_scenario_escaped_and_closed() {
        let mut lines = vec![e2e(100.0, 1.5), e2e(300.0, 2.5)];
        for (scenario, rate) in [
            ("latency", "achieved_delivered_per_s"),
            ("fanout", "deliveries_per_s"),
            ("slow-endpoint", "baseline_fast_deliveries_per_s"),
            ("backlog", "drain_msg_per_s"),
            ("<odd & new>", "x"),
        ] {
            let mut v = json!({"scenario": scenario, "latency_ms": {"p99_ms": 40.0}});
            v[rate] = json!(123.0);
            lines.push(v);
        }
        let svg = svg(&groups(&lines));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        for name in [
            "e2e",
            "latency",
            "fanout",
            "slow-endpoint",
            "backlog",
            "&lt;odd &amp; new&gt;",
        ] {
            assert!(svg.contains(&format!(">{name}")), "{name} in {svg}");
        }
        assert!(
            svg.contains(">200</text>"),
            "median of 100 and 300 on its bar"
        );
        assert!(svg.contains(">40.0 ms</text>"));
        assert!(!svg.contains("<odd"));
        assert_eq!(
            svg.matches("<text ").count(),
            svg.matches("</text>").count()
        );
        assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    }
}
