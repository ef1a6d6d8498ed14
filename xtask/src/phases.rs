//! The phases of `cargo xtask ci` and their wall times, printed as a table at the end of every run, failed or not.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How a phase ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
}

/// Whether a phase held up the ones after it or ran beside them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The sequence waited for it.
    Foreground,
    /// Started early and joined later; its time overlaps the foreground's.
    Background,
}

#[derive(Debug)]
struct Row {
    name: String,
    lane: Lane,
    wall: Duration,
    outcome: Outcome,
}

/// The phases run so far, in the order they ended.
#[derive(Debug)]
pub struct Phases {
    started: Instant,
    rows: Vec<Row>,
}

impl Default for Phases {
    fn default() -> Self {
        Self { started: Instant::now(), rows: Vec::new() }
    }
}

impl Phases {
    /// Run `phase` in the foreground and record its time and outcome.
    pub fn run<T>(&mut self, name: &str, phase: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let started = Instant::now();
        let result = phase();
        self.record(name, Lane::Foreground, started.elapsed(), &result);
        result
    }

    /// Record a phase timed elsewhere (one that ran in the background).
    pub fn record<T>(&mut self, name: &str, lane: Lane, wall: Duration, result: &Result<T, String>) {
        let outcome = if result.is_ok() { Outcome::Ok } else { Outcome::Failed };
        self.rows.push(Row { name: name.to_owned(), lane, wall, outcome });
    }

    /// The table: one line per phase, then the whole run's wall time.
    pub fn table(&self) -> String {
        let width = self.rows.iter().map(|row| row.name.len()).chain([5]).max().unwrap_or(5);
        let mut table = format!("{:<width$}  {:>9}  result\n", "phase", "wall");
        for row in &self.rows {
            let outcome = match row.outcome {
                Outcome::Ok => "ok",
                Outcome::Failed => "FAILED",
            };
            let lane = match row.lane {
                Lane::Foreground => "",
                Lane::Background => " (in the background)",
            };
            let _ = writeln!(table, "{:<width$}  {:>9}  {outcome}{lane}", row.name, minutes(row.wall));
        }
        let _ = writeln!(table, "{:<width$}  {:>9}", "total", minutes(self.started.elapsed()));
        table
    }
}

/// `m:ss.s`, the way a person reads a CI phase.
fn minutes(duration: Duration) -> String {
    let tenths = (duration.as_millis() + 50) / 100;
    format!("{}:{:02}.{}", tenths / 600, tenths % 600 / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_phase_with_its_time_and_result_failed_ones_included() {
        let mut phases = Phases::default();
        assert_eq!(phases.run("fmt", || Ok::<_, String>(())), Ok(()));
        assert!(phases.run("clippy", || Err::<(), _>("clippy failed".to_owned())).is_err());
        phases.record("s3 start", Lane::Background, Duration::from_millis(83_240), &Ok(()));
        let table = phases.table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[0].starts_with("phase") && lines[0].ends_with("result"), "{table}");
        assert!(lines[1].starts_with("fmt ") && lines[1].ends_with(" ok"), "{table}");
        assert!(lines[2].starts_with("clippy ") && lines[2].ends_with(" FAILED"), "{table}");
        assert!(lines[3].contains(" 1:23.2 ") && lines[3].ends_with("ok (in the background)"), "{table}");
        assert!(lines[4].starts_with("total "), "{table}");
    }

    #[test]
    fn minutes_read_as_a_clock() {
        assert_eq!(minutes(Duration::from_millis(4_560)), "0:04.6");
        assert_eq!(minutes(Duration::from_secs(727)), "12:07.0");
        assert_eq!(minutes(Duration::from_millis(59_960)), "1:00.0");
    }
}
