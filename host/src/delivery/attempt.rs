//! What one attempt's outcome means for a queued delivery (SPEC §8
//! "Attempts" and "Audit outcomes"): delivered, tried again when, or dead.

use std::time::Duration;

use super::schedule::{Next, Schedule};

/// How an attempt ended, as the deliverer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The upstream answered with this status.
    Status {
        /// The status.
        status: u16,
        /// Its `Retry-After`, on a 429 or 503.
        retry_after: Option<Duration>,
    },
    /// No connection could be made: the lead was not sent.
    NotSent,
    /// Sent, but no answer in time or the connection broke: whether the
    /// upstream took it is unknown.
    Unknown,
}

/// The audit outcome of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    /// 2xx.
    Delivered,
    /// A final non-2xx: 410, or the last attempt the schedule allows.
    RefusedByUpstream,
    /// Another attempt follows.
    Retrying,
    /// Timed out or broke after sending (another attempt follows, or the
    /// delivery is dead).
    Unknown,
}

impl AuditOutcome {
    /// The word in the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditOutcome::Delivered => "delivered",
            AuditOutcome::RefusedByUpstream => "refused-by-upstream",
            AuditOutcome::Retrying => "retrying",
            AuditOutcome::Unknown => "unknown",
        }
    }
}

/// What to do with the delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Remove it: delivered.
    Delivered,
    /// Try again at this time (Unix milliseconds).
    RetryAt(u64),
    /// A dead letter.
    Dead,
}

impl Attempt {
    /// The last status of the delivery's record: the HTTP status, or
    /// `not-sent` / `unknown`.
    pub fn status_label(self) -> String {
        match self {
            Attempt::Status { status, .. } => status.to_string(),
            Attempt::NotSent => "not-sent".into(),
            Attempt::Unknown => "unknown".into(),
        }
    }

    /// Decides after attempt number `attempts` (1 for the first) of a
    /// delivery stored at `created`, at `now`.
    pub fn decide(
        self,
        schedule: &Schedule,
        attempts: u32,
        created: u64,
        now: u64,
    ) -> (Decision, AuditOutcome) {
        let retry_after = match self {
            Attempt::Status { status, .. } if (200..300).contains(&status) => {
                return (Decision::Delivered, AuditOutcome::Delivered);
            }
            Attempt::Status { status: 410, .. } => {
                return (Decision::Dead, AuditOutcome::RefusedByUpstream);
            }
            Attempt::Status {
                status: 429 | 503,
                retry_after,
            } => retry_after,
            _ => None,
        };
        let decision = match schedule.next(attempts, created, now, retry_after) {
            Next::At(at) => Decision::RetryAt(at),
            Next::Dead => Decision::Dead,
        };
        let outcome = match (self, decision) {
            (Attempt::Unknown, _) => AuditOutcome::Unknown,
            (_, Decision::RetryAt(_)) => AuditOutcome::Retrying,
            (Attempt::Status { .. }, _) => AuditOutcome::RefusedByUpstream,
            // Never reached the upstream, and no attempt is left.
            (Attempt::NotSent, _) => AuditOutcome::Unknown,
        };
        (decision, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> Attempt {
        Attempt::Status {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn each_outcome_as_the_spec_says() {
        let s = Schedule::default();
        let decide = |a: Attempt, n| a.decide(&s, n, 0, 1000);
        assert_eq!(
            decide(status(200), 1),
            (Decision::Delivered, AuditOutcome::Delivered)
        );
        assert_eq!(
            decide(status(204), 3),
            (Decision::Delivered, AuditOutcome::Delivered)
        );
        assert_eq!(
            decide(status(410), 1),
            (Decision::Dead, AuditOutcome::RefusedByUpstream)
        );
        assert_eq!(
            decide(status(500), 1),
            (Decision::RetryAt(6000), AuditOutcome::Retrying)
        );
        assert_eq!(
            decide(status(400), 1),
            (Decision::RetryAt(6000), AuditOutcome::Retrying)
        );
        assert_eq!(
            decide(Attempt::NotSent, 1),
            (Decision::RetryAt(6000), AuditOutcome::Retrying)
        );
        assert_eq!(
            decide(Attempt::Unknown, 1),
            (Decision::RetryAt(6000), AuditOutcome::Unknown)
        );
        // After the last delay: dead.
        assert_eq!(
            decide(status(500), 8),
            (Decision::Dead, AuditOutcome::RefusedByUpstream)
        );
        assert_eq!(
            decide(Attempt::Unknown, 8),
            (Decision::Dead, AuditOutcome::Unknown)
        );
    }

    #[test]
    fn retry_after_counts_on_429_and_503_only() {
        let s = Schedule::default();
        let asked = Some(Duration::from_secs(120));
        for code in [429, 503] {
            let a = Attempt::Status {
                status: code,
                retry_after: asked,
            };
            assert_eq!(a.decide(&s, 1, 0, 0).0, Decision::RetryAt(120_000));
        }
        let a = Attempt::Status {
            status: 500,
            retry_after: asked,
        };
        assert_eq!(a.decide(&s, 1, 0, 0).0, Decision::RetryAt(5000));
    }

    #[test]
    fn labels() {
        assert_eq!(status(503).status_label(), "503");
        assert_eq!(Attempt::NotSent.status_label(), "not-sent");
        assert_eq!(
            AuditOutcome::RefusedByUpstream.as_str(),
            "refused-by-upstream"
        );
    }
}
