//! The report's lines and the read-scenario row.

use super::read::ReadResult;
use super::scim::Versus;
use super::{human_bytes, stats};

pub(super) struct Report {
    pub(super) lines: Vec<String>,
}

impl Report {
    pub(super) fn push(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }

    pub(super) fn read_row(
        &mut self,
        label: &str,
        r: &ReadResult,
        target: f64,
        p99_target: Option<f64>,
        target_label: &str,
    ) {
        let (ratio, lo, hi) = stats(&r.ratios);
        let aa = if r.aa.is_empty() {
            "–".to_string()
        } else {
            let (m, l, h) = stats(&r.aa);
            format!("{m:.2} [{l:.2}–{h:.2}]")
        };
        let nginx = if r.nginx_ratios.is_empty() {
            "–".to_string()
        } else {
            let (m, l, h) = stats(&r.nginx_ratios);
            format!("{m:.2} [{l:.2}–{h:.2}]")
        };
        let p99 = r.median(|m| m.p99_ms);
        let floor_p99 = stats(&r.floor.iter().map(|m| m.p99_ms).collect::<Vec<_>>()).0;
        // Latency targets are judged without queueing (one connection): with 32
        // connections each answer waits for the others' bytes, floor included.
        let met = ratio >= target
            && p99_target.is_none_or(|t| r.single.is_some_and(|(ours, _)| ours <= t));
        let single = match r.single {
            Some((ours, floor)) => format!("{ours:.2} / {floor:.2}"),
            None => "–".into(),
        };
        self.push(format!(
            "| {label} | {} | {} | {:.0} | {ratio:.2} [{lo:.2}–{hi:.2}] | {aa} | {nginx} | {:.2} | {p99:.2} | {floor_p99:.2} | {single} | {}/s | {:.0} MiB | {target_label} | {} |",
            human_bytes(r.body as f64),
            r.tool.name(),
            r.median(|m| m.requests_per_sec),
            r.median(|m| m.p50_ms),
            human_bytes(r.median(|m| m.bytes_per_sec)),
            r.rss_mib,
            if met { "met" } else { "**not met**" }
        ));
    }

    /// A SCIM request measured against the peer: cohort's req/s over the
    /// peer's, per round.
    pub(super) fn versus_row(&mut self, r: &Versus, target: f64) {
        let (rps, _, _) = stats(&r.cohort);
        let body = |n: usize| {
            if n == 0 {
                "–".to_string()
            } else {
                human_bytes(n as f64)
            }
        };
        if r.peer.is_empty() {
            self.push(format!(
                "| {} | {} / – | {} | {rps:.0} | not measured | – | – | ≥ {target:.0}× peer | – |",
                r.label,
                body(r.bodies.0),
                r.tool
            ));
            return;
        }
        let (peer, _, _) = stats(&r.peer);
        let (ratio, lo, hi) = stats(&r.ratios);
        self.push(format!(
            "| {} | {} / {} | {} | {rps:.0} | {peer:.0} | {ratio:.1}× [{lo:.1}–{hi:.1}] | {} | ≥ {target:.0}× peer | {} |",
            r.label,
            body(r.bodies.0),
            r.bodies.1.map(body).unwrap_or_else(|| "–".into()),
            r.tool,
            r.peer_errors,
            if ratio >= target { "met" } else { "**not met**" }
        ));
    }
}
