//! Result rows in the format of issue 7 (`{"scenario", "metric", "unit", "ovs",
//! "southpaw", "ratio"}`), small statistics helpers, the Markdown table and the JSON file.

use std::path::Path;

use anyhow::{Context, Result};

/// One comparison: the same metric measured on ovn-controller + ovs-vswitchd and on
/// southpaw. `ratio` is `ovs / southpaw`: above 1 means southpaw is faster (for times) or
/// has fewer (for counts).
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub scenario: &'static str,
    pub metric: &'static str,
    pub unit: &'static str,
    pub ovs: f64,
    pub southpaw: f64,
}

impl Row {
    pub fn ratio(&self) -> Option<f64> {
        (self.southpaw > 0.0).then(|| self.ovs / self.southpaw)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario,
            "metric": self.metric,
            "unit": self.unit,
            "ovs": round3(self.ovs),
            "southpaw": round3(self.southpaw),
            "ratio": self.ratio().map(round3),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Median of `samples` (mean of the two middle values for an even count); 0 when empty.
pub fn median(samples: &[f64]) -> f64 {
    let s = sorted(samples);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile `p` (0..=100) of `samples`; 0 when empty.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    let s = sorted(samples);
    if s.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The Markdown table: metric, ovn-controller+ovs, southpaw, ratio.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | metric | unit | ovn-controller+ovs | southpaw | ratio (ovs/southpaw) |\n\
         |---|---|---|---:|---:|---:|\n",
    );
    for r in rows {
        let ratio = r.ratio().map_or("-".to_string(), |x| format!("{x:.2}"));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {ratio} |\n",
            r.scenario,
            r.metric,
            r.unit,
            num(r.ovs),
            num(r.southpaw)
        ));
    }
    out
}

fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() >= 1.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// Writes the rows as a pretty JSON array, creating the parent directory.
pub fn write_json(path: &Path, rows: &[Row]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let v: Vec<serde_json::Value> = rows.iter().map(Row::to_json).collect();
    let text = serde_json::to_string_pretty(&v)?;
    std::fs::write(path, text + "\n").with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p90() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 90.0), 18.0);
        assert_eq!(percentile(&[5.0], 90.0), 5.0);
    }

    #[test]
    fn row_json_and_table() {
        let r = Row {
            scenario: "wait-hv-port-add",
            metric: "median",
            unit: "ms",
            ovs: 300.0,
            southpaw: 150.0,
        };
        let j = r.to_json();
        assert_eq!(j["ratio"], 2.0);
        assert_eq!(j["scenario"], "wait-hv-port-add");
        let t = markdown(&[r]);
        assert!(
            t.contains("| wait-hv-port-add | median | ms | 300 | 150 | 2.00 |"),
            "{t}"
        );
    }
}
