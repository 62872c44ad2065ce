//! Inbound-check failures per client address: a client over the limit is
//! answered 429 until its window ends.
//!
//! Limits: the table holds at most [`MAX_CLIENTS`] addresses; each failure
//! costs constant time (a window that is over is dropped from the front of
//! an ordered queue, never by scanning the table), and when the table is
//! full the address whose window began first is forgotten.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most.
pub const MAX_CLIENTS: usize = 100_000;

/// Failures per client address.
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    clients: Mutex<Clients>,
}

#[derive(Debug, Default)]
struct Clients {
    /// Each address: when its window began and its failures in it.
    windows: HashMap<IpAddr, (Instant, u32)>,
    /// Addresses in the order their windows began; an entry for a window
    /// that has since been replaced is skipped.
    order: VecDeque<(Instant, IpAddr)>,
}

impl Throttle {
    /// At most `max_failures` per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle::with_capacity(max_failures, window, MAX_CLIENTS)
    }

    fn with_capacity(max_failures: u32, window: Duration, capacity: usize) -> Throttle {
        Throttle {
            max_failures,
            window,
            capacity: capacity.max(1),
            clients: Mutex::new(Clients::default()),
        }
    }

    /// `Some(seconds to wait)` when the client is throttled.
    pub fn blocked(&self, client: IpAddr) -> Option<u64> {
        self.blocked_at(client, Instant::now())
    }

    fn blocked_at(&self, client: IpAddr, now: Instant) -> Option<u64> {
        let clients = self.clients.lock().ok()?;
        let (start, failures) = clients.windows.get(&client)?;
        let elapsed = now.saturating_duration_since(*start);
        if *failures >= self.max_failures && elapsed < self.window {
            Some((self.window - elapsed).as_secs().max(1))
        } else {
            None
        }
    }

    /// Counts a failure.
    pub fn failed(&self, client: IpAddr) {
        self.failed_at(client, Instant::now());
    }

    fn failed_at(&self, client: IpAddr, now: Instant) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        clients.expire(now, self.window);
        let fresh = match clients.windows.get(&client) {
            Some((start, _)) => now.duration_since(*start) >= self.window,
            None => true,
        };
        if fresh {
            if !clients.windows.contains_key(&client) && clients.windows.len() >= self.capacity {
                clients.evict_oldest();
            }
            clients.windows.insert(client, (now, 0));
            clients.order.push_back((now, client));
        }
        if let Some((_, failures)) = clients.windows.get_mut(&client) {
            *failures = failures.saturating_add(1);
        }
    }

    /// Addresses tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().map_or(0, |c| c.windows.len())
    }
}

impl Clients {
    /// Whether the queue entry is the address's current window.
    fn current(&self, start: Instant, client: IpAddr) -> bool {
        self.windows.get(&client).is_some_and(|(s, _)| *s == start)
    }

    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(start, client)) = self.order.front() {
            if !self.current(start, client) {
                self.order.pop_front();
            } else if now.duration_since(start) >= window {
                self.order.pop_front();
                self.windows.remove(&client);
            } else {
                break;
            }
        }
    }

    fn evict_oldest(&mut self) {
        while let Some((start, client)) = self.order.pop_front() {
            if self.current(start, client) {
                self.windows.remove(&client);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_after_too_many_failures() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(throttle.blocked(ip).is_none());
        throttle.failed(ip);
        assert!(throttle.blocked(ip).is_none());
        throttle.failed(ip);
        assert!(throttle.blocked(ip).is_some());
    }

    /// From mutation testing: the window's end, the wait, and a window
    /// begun again after one ended.
    #[test]
    fn a_client_waits_out_the_rest_of_its_window() {
        let window = Duration::from_secs(60);
        let throttle = Throttle::new(2, window);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let start = Instant::now();
        throttle.failed_at(ip, start);
        throttle.failed_at(ip, start);
        let at = |s: u64| start + Duration::from_secs(s);
        assert_eq!(throttle.blocked_at(ip, at(10)), Some(50));
        assert_eq!(
            throttle.blocked_at(ip, start + window - Duration::from_millis(1)),
            Some(1)
        );
        assert_eq!(throttle.blocked_at(ip, at(60)), None);

        // A new window after the old one; another client's failure must not
        // drop it (the old window's queue entry is stale, not current).
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        throttle.failed_at(ip, at(61));
        throttle.failed_at(other, at(62));
        throttle.failed_at(ip, at(63));
        assert_eq!(throttle.blocked_at(ip, at(64)), Some(57));
        assert_eq!(throttle.blocked_at(other, at(64)), None);
    }

    /// Hardening (item 12): the table is bounded and a flood of addresses
    /// costs constant time per failure.
    #[test]
    fn the_table_is_bounded_and_forgets_the_oldest() {
        let throttle = Throttle::with_capacity(2, Duration::from_secs(60), 100);
        let start = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            throttle.failed_at(ip, start + Duration::from_millis(u64::from(i)));
        }
        assert_eq!(throttle.len(), 100);
        let clients = throttle.clients.lock().unwrap();
        assert!(clients.order.len() <= 100, "{}", clients.order.len());
        // The newest addresses are the ones kept.
        assert!(
            clients
                .windows
                .contains_key(&IpAddr::from(9_999u32.to_be_bytes()))
        );
        assert!(
            !clients
                .windows
                .contains_key(&IpAddr::from(0u32.to_be_bytes()))
        );
    }

    #[test]
    fn a_window_that_is_over_starts_again() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let start = Instant::now();
        throttle.failed_at(ip, start);
        throttle.failed_at(ip, start + Duration::from_secs(61));
        let clients = throttle.clients.lock().unwrap();
        assert_eq!(clients.windows[&ip].1, 1);
        assert_eq!(clients.order.len(), 1);
    }
}
