//! When a queued lead is tried again (SPEC §8 "Attempts").
//!
//! After a failed attempt the next one waits the next delay of `retry`, or
//! at least as long as the upstream's `Retry-After` asked; after the last
//! delay, or once the lead is older than `max_age`, it is a dead letter.

use std::time::Duration;

/// The delays after the first attempt when a route says nothing.
pub const DEFAULT_RETRY: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How old a lead may get before it is a dead letter, by default.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(72 * 3600);

/// A route's retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The delays after the first, second, ... attempt.
    pub retry: Vec<Duration>,
    /// Dead-lettered past this age, whatever `retry` says.
    pub max_age: Duration,
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule {
            retry: DEFAULT_RETRY.to_vec(),
            max_age: DEFAULT_MAX_AGE,
        }
    }
}

/// What follows an attempt that did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again at this time (Unix milliseconds).
    At(u64),
    /// A dead letter: no more attempts.
    Dead,
}

impl Schedule {
    /// The next attempt after `attempts` attempts (the one that just failed
    /// included) of a lead stored at `created`, at `now` (Unix
    /// milliseconds), when the upstream asked to wait `retry_after`.
    pub fn next(
        &self,
        attempts: u32,
        created: u64,
        now: u64,
        retry_after: Option<Duration>,
    ) -> Next {
        let Some(delay) = attempts
            .checked_sub(1)
            .and_then(|i| self.retry.get(i as usize))
        else {
            return Next::Dead;
        };
        let delay = retry_after.map_or(*delay, |asked| asked.max(*delay));
        let at = now.saturating_add(millis(delay));
        if at.saturating_sub(created) > millis(self.max_age) {
            return Next::Dead;
        }
        Next::At(at)
    }

    /// Whether a lead stored at `created` is past its age at `now`.
    pub fn expired(&self, created: u64, now: u64) -> bool {
        now.saturating_sub(created) > millis(self.max_age)
    }
}

/// The time now, in Unix milliseconds (the unit of every time a store
/// keeps).
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds, saturating.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Reads a duration as the configuration writes it: `5s`, `30m`, `2h`,
/// `72h`, `1h 30m`. Zero and more than a year are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text.trim())
        .map_err(|_| format!("`{text}` is not a duration (write e.g. `5s`, `30m`, `2h`)"))?;
    if duration.is_zero() {
        return Err("a duration is longer than zero".into());
    }
    if duration > Duration::from_secs(366 * 24 * 3600) {
        return Err(format!("`{text}` is longer than a year"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1000;

    #[test]
    fn the_default_schedule_is_the_spec_one() {
        let schedule = Schedule::default();
        let t0 = 1_000_000 * S;
        assert_eq!(schedule.next(1, t0, t0, None), Next::At(t0 + 5 * S));
        assert_eq!(
            schedule.next(2, t0, t0 + 5 * S, None),
            Next::At(t0 + 5 * S + 300 * S)
        );
        // The seventh delay is the last one.
        assert_eq!(
            schedule.next(7, t0, t0 + S, None),
            Next::At(t0 + S + 36_000 * S)
        );
        assert_eq!(schedule.next(8, t0, t0 + S, None), Next::Dead);
        assert_eq!(schedule.next(0, t0, t0, None), Next::Dead);
    }

    #[test]
    fn retry_after_waits_at_least_as_long_as_asked() {
        let schedule = Schedule::default();
        let asked = Some(Duration::from_secs(60));
        assert_eq!(schedule.next(1, 0, 0, asked), Next::At(60 * S));
        // A shorter Retry-After does not shorten the schedule.
        assert_eq!(schedule.next(2, 0, 0, asked), Next::At(300 * S));
    }

    #[test]
    fn past_max_age_is_dead_whatever_the_schedule_says() {
        let schedule = Schedule {
            retry: vec![Duration::from_secs(3600); 10],
            max_age: Duration::from_secs(2 * 3600),
        };
        assert_eq!(schedule.next(1, 0, 0, None), Next::At(3600 * S));
        assert_eq!(schedule.next(2, 0, 3600 * S, None), Next::At(7200 * S));
        assert_eq!(schedule.next(3, 0, 7200 * S, None), Next::Dead);
        assert!(!schedule.expired(0, 7200 * S));
        assert!(schedule.expired(0, 7200 * S + 1));
    }

    #[test]
    fn durations_are_read_as_written() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("72h"), Ok(Duration::from_secs(72 * 3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("400d").is_err());
    }
}
