//! `assets/grafana/kurve-dashboard.json` is valid JSON and every metric its queries use
//! is one the server exports (a renamed metric would leave a panel silently empty).

use std::collections::BTreeSet;

const DASHBOARD: &str = include_str!("../../assets/grafana/kurve-dashboard.json");
const METRICS: &str = include_str!("../../server/src/metrics.rs");
const LIMITS: &str = include_str!("../../server/src/limits.rs");

/// Metric names in a PromQL expression (`kurve_…`, histogram suffixes removed).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("kurve_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(base.to_owned());
        rest = &tail[end..];
    }
    names
}

#[test]
fn every_panel_queries_a_metric_the_server_exports() {
    let dashboard: serde_json::Value =
        serde_json::from_str(DASHBOARD).expect("the dashboard is valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(
        panels.len() >= 10,
        "a panel per figure the operator page shows"
    );
    let mut used = BTreeSet::new();
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has a query", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().expect("an expression");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} names a kurve metric");
            used.extend(names);
        }
    }
    let exported = |name: &str| {
        let quoted = format!("\"{name}\"");
        METRICS.contains(&quoted) || LIMITS.contains(&quoted)
    };
    let missing: Vec<&String> = used.iter().filter(|n| !exported(n)).collect();
    assert!(
        missing.is_empty(),
        "not exported by the server: {missing:?}"
    );
    assert!(used.contains("kurve_tick_lateness_seconds"));
}
