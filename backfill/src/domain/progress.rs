//! Progress of a backfill from its Map Run counters: done/total, failed, rate and ETA.

use std::time::{Duration, SystemTime};

use super::format::{duration, thousands};

/// A Map Run's `itemCounts`: items are manifest rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemCounts {
    pub pending: u64,
    pub running: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub timed_out: u64,
    pub aborted: u64,
    pub total: u64,
    pub results_written: u64,
}

impl ItemCounts {
    /// Items whose batch has finished, one way or another.
    pub fn done(&self) -> u64 {
        self.succeeded + self.failed_total()
    }

    /// Items in batches that failed as a whole: failed, timed out or aborted.
    pub fn failed_total(&self) -> u64 {
        self.failed + self.timed_out + self.aborted
    }
}

/// The Distributed Map's run inside a backfill execution.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRun {
    pub arn: String,
    pub status: String,
    pub start: SystemTime,
    pub stop: Option<SystemTime>,
    pub counts: ItemCounts,
}

impl MapRun {
    /// How long the run has gone on at `now`, or went on when it has stopped.
    pub fn elapsed(&self, now: SystemTime) -> Duration {
        self.stop
            .unwrap_or(now)
            .duration_since(self.start)
            .unwrap_or_default()
    }
}

/// The figures of one progress line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub failed: u64,
    /// Items a minute since the run started; none before anything is done.
    pub rate_per_minute: Option<f64>,
    /// Time left at that rate.
    pub eta: Option<Duration>,
    pub elapsed: Duration,
}

impl Progress {
    pub fn new(counts: &ItemCounts, elapsed: Duration) -> Self {
        let done = counts.done();
        let total = counts.total.max(done);
        let seconds = elapsed.as_secs_f64();
        let rate_per_minute = (done > 0 && seconds >= 1.0).then(|| done as f64 * 60.0 / seconds);
        let remaining = total - done;
        let eta = if remaining == 0 && total > 0 {
            Some(Duration::ZERO)
        } else {
            rate_per_minute
                .map(|rate| Duration::from_secs((remaining as f64 * 60.0 / rate).round() as u64))
        };
        Self {
            done,
            total,
            failed: counts.failed_total(),
            rate_per_minute,
            eta,
            elapsed,
        }
    }

    /// One line: `4,200/10,000 items (42.0%), failed 100, 840 items/min, ETA 6m54s, elapsed 5m00s`.
    pub fn render(&self) -> String {
        let percent = if self.total == 0 {
            0.0
        } else {
            self.done as f64 * 100.0 / self.total as f64
        };
        let rate = match self.rate_per_minute {
            Some(rate) if rate >= 10.0 => format!("{} items/min", thousands(rate.round() as u64)),
            Some(rate) => format!("{rate:.1} items/min"),
            None => "rate unknown".to_owned(),
        };
        let eta = self.eta.map_or_else(
            || "ETA unknown".to_owned(),
            |eta| format!("ETA {}", duration(eta)),
        );
        format!(
            "{}/{} items ({percent:.1}%), failed {}, {rate}, {eta}, elapsed {}",
            thousands(self.done),
            thousands(self.total),
            thousands(self.failed),
            duration(self.elapsed)
        )
    }
}

/// The progress line of a Map Run at `now`.
pub fn render_progress(run: &MapRun, now: SystemTime) -> String {
    Progress::new(&run.counts, run.elapsed(now)).render()
}

/// What the watch loop shows before the Distributed Map has started.
pub const WAITING_FOR_MAP_RUN: &str = "waiting for the Map Run to start";

/// The progress line of an execution's Map Run, or that it has not started yet.
pub fn progress_line(run: Option<&MapRun>, now: SystemTime) -> String {
    run.map_or_else(
        || WAITING_FOR_MAP_RUN.to_owned(),
        |run| render_progress(run, now),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(succeeded: u64, failed: u64, timed_out: u64, aborted: u64, total: u64) -> ItemCounts {
        ItemCounts {
            succeeded,
            failed,
            timed_out,
            aborted,
            total,
            ..ItemCounts::default()
        }
    }

    #[test]
    fn done_counts_every_finished_item_and_failed_counts_whole_failed_batches() {
        let c = counts(4000, 100, 50, 50, 10_000);
        assert_eq!(c.done(), 4200);
        assert_eq!(c.failed_total(), 200);
    }

    #[test]
    fn rate_and_eta_follow_from_the_elapsed_time() {
        let p = Progress::new(&counts(4100, 100, 0, 0, 10_000), Duration::from_secs(300));
        assert_eq!(p.rate_per_minute, Some(840.0));
        assert_eq!(p.eta, Some(Duration::from_secs(414)));
        assert_eq!(
            p.render(),
            "4,200/10,000 items (42.0%), failed 100, 840 items/min, ETA 6m54s, elapsed 5m00s"
        );
    }

    #[test]
    fn nothing_done_yet_has_no_rate_nor_eta() {
        let p = Progress::new(&counts(0, 0, 0, 0, 10_000), Duration::from_secs(30));
        assert_eq!(
            p.render(),
            "0/10,000 items (0.0%), failed 0, rate unknown, ETA unknown, elapsed 30s"
        );
        let p = Progress::new(&counts(0, 0, 0, 0, 0), Duration::ZERO);
        assert_eq!(
            p.render(),
            "0/0 items (0.0%), failed 0, rate unknown, ETA unknown, elapsed 0s"
        );
    }

    #[test]
    fn slow_rates_keep_a_decimal_and_long_etas_show_hours() {
        let p = Progress::new(&counts(5, 0, 0, 0, 10_000), Duration::from_secs(120));
        assert_eq!(
            p.render(),
            "5/10,000 items (0.1%), failed 0, 2.5 items/min, ETA 66h38m, elapsed 2m00s"
        );
    }

    #[test]
    fn a_finished_run_has_no_time_left() {
        let p = Progress::new(
            &counts(9_900, 0, 100, 0, 10_000),
            Duration::from_secs(3_725),
        );
        assert_eq!(p.eta, Some(Duration::ZERO));
        assert_eq!(
            p.render(),
            "10,000/10,000 items (100.0%), failed 100, 161 items/min, ETA 0s, elapsed 1h02m"
        );
    }

    #[test]
    fn elapsed_stops_with_the_run() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut run = MapRun {
            arn: "arn".into(),
            status: "RUNNING".into(),
            start,
            stop: None,
            counts: ItemCounts::default(),
        };
        let now = start + Duration::from_secs(90);
        assert_eq!(run.elapsed(now), Duration::from_secs(90));
        run.stop = Some(start + Duration::from_secs(60));
        assert_eq!(run.elapsed(now), Duration::from_secs(60));
        // A clock behind the service's start date shows no time rather than failing.
        assert_eq!(
            MapRun { stop: None, ..run }.elapsed(SystemTime::UNIX_EPOCH),
            Duration::ZERO
        );
    }
}
