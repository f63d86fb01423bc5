//! The comparison rows (issue 7 shape `{"scenario", "metric", "unit", "ovs", "southpaw",
//! "ratio"}`), with the ratio oriented so that above 1 always favours southpaw: rates are
//! `southpaw / ovs`, times `ovs / southpaw`. Also the machine description, the
//! control-plane rows (measured in this run, or imported from `cp_bench`'s file) and the
//! Markdown table.

use std::path::Path;

use southpaw_bench::cp::{report::median, Outcome};

/// One metric measured on both planes.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub unit: String,
    pub ovs: f64,
    pub southpaw: f64,
    /// Rates (pps, Gbit/s): true; times: false.
    pub higher_better: bool,
    /// Where the numbers come from when not measured by this run.
    pub note: Option<String>,
}

impl Row {
    pub fn new(
        scenario: &str,
        metric: &str,
        unit: &str,
        ovs: f64,
        southpaw: f64,
        higher_better: bool,
    ) -> Row {
        Row {
            scenario: scenario.into(),
            metric: metric.into(),
            unit: unit.into(),
            ovs,
            southpaw,
            higher_better,
            note: None,
        }
    }

    /// Above 1: southpaw is better. `None` when the denominator is not positive.
    pub fn ratio(&self) -> Option<f64> {
        let (num, den) = if self.higher_better {
            (self.southpaw, self.ovs)
        } else {
            (self.ovs, self.southpaw)
        };
        (den > 0.0).then(|| num / den)
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "scenario": self.scenario,
            "metric": self.metric,
            "unit": self.unit,
            "ovs": round3(self.ovs),
            "southpaw": round3(self.southpaw),
            "ratio": self.ratio().map(round3),
            "higher_is_better": self.higher_better,
            "note": self.note,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Rows back from `latest.json`'s `rows` (for `--replot`); malformed entries are skipped.
pub fn from_json(v: &serde_json::Value) -> Vec<Row> {
    let Some(a) = v.as_array() else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|r| {
            let mut row = Row::new(
                r["scenario"].as_str()?,
                r["metric"].as_str()?,
                r["unit"].as_str()?,
                r["ovs"].as_f64()?,
                r["southpaw"].as_f64()?,
                r["higher_is_better"].as_bool().unwrap_or(true),
            );
            row.note = r["note"].as_str().map(str::to_string);
            Some(row)
        })
        .collect()
}

/// The control-plane rows of this run: the medians of `wait-hv-port-add`,
/// `wait-hv-acl-add` (`reps` samples each) and `full-compile` (`compile_reps` samples), in
/// ms (times: lower is better).
pub fn control_plane(o: &Outcome, reps: u32, compile_reps: u32) -> Vec<Row> {
    let of = |n| format!("median of {n}");
    let (ol, sl) = (&o.ovs.lat, &o.southpaw.lat);
    vec![
        Row::new(
            "wait-hv-port-add",
            &of(reps),
            "ms",
            median(&ol.port_hv),
            median(&sl.port_hv),
            false,
        ),
        Row::new(
            "wait-hv-acl-add",
            &of(reps),
            "ms",
            median(&ol.acl_hv),
            median(&sl.acl_hv),
            false,
        ),
        Row::new(
            "full-compile",
            &of(compile_reps),
            "ms",
            o.ovs.compile_ms,
            o.southpaw.compile_ms,
            false,
        ),
    ]
}

/// `wait-hv-port-add`, `wait-hv-acl-add` and `full-compile` medians from `cp_bench`'s
/// JSON, if the file is there (times: lower is better). Says on stderr what it did.
pub fn import_control_plane(path: &Path) -> Vec<Row> {
    let Ok(text) = std::fs::read_to_string(path) else {
        eprintln!(
            "{} absent: no control-plane rows (run cp_bench)",
            path.display()
        );
        return Vec::new();
    };
    let Ok(serde_json::Value::Array(a)) = serde_json::from_str::<serde_json::Value>(&text) else {
        eprintln!("{}: not a JSON array of rows, skipped", path.display());
        return Vec::new();
    };
    let rows: Vec<Row> = a
        .iter()
        .filter(|r| {
            matches!(
                r["scenario"].as_str(),
                Some("wait-hv-port-add" | "wait-hv-acl-add" | "full-compile")
            ) && r["metric"].as_str() == Some("median")
        })
        .filter_map(|r| {
            let mut row = Row::new(
                r["scenario"].as_str()?,
                "median",
                r["unit"].as_str()?,
                r["ovs"].as_f64()?,
                r["southpaw"].as_f64()?,
                false,
            );
            row.note = Some(format!(
                "imported from {} (cp_bench), not re-run",
                path.file_name().map_or("?".into(), |n| n.to_string_lossy())
            ));
            Some(row)
        })
        .collect();
    eprintln!(
        "imported {} control-plane rows from {} (not re-run)",
        rows.len(),
        path.display()
    );
    rows
}

/// `nproc`, the CPU model and the kernel release.
pub fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|_| "unknown kernel".into());
    format!("nproc {nproc}, {cpu}, kernel {kernel}")
}

/// The Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | metric | unit | ovn-controller+ovs | southpaw | ratio (>1 favours southpaw) |\n\
         |---|---|---|---:|---:|---:|\n",
    );
    for r in rows {
        let ratio = r.ratio().map_or("-".to_string(), |x| format!("{x:.2}"));
        let how = if r.higher_better {
            "southpaw/ovs"
        } else {
            "ovs/southpaw"
        };
        let note = r
            .note
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        out.push_str(&format!(
            "| {}{note} | {} | {} | {} | {} | {ratio} ({how}) |\n",
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
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_favours_southpaw_both_ways() {
        let rate = Row::new("l2", "pps", "pps", 100.0, 150.0, true);
        assert_eq!(rate.ratio(), Some(1.5));
        let time = Row::new("t", "median", "ms", 300.0, 150.0, false);
        assert_eq!(time.ratio(), Some(2.0));
        assert_eq!(Row::new("z", "m", "u", 0.0, 1.0, true).ratio(), None);
        let back = from_json(&serde_json::json!([time.to_json()]));
        assert_eq!(back, vec![time]);
    }
}
