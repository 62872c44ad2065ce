//! `leadfilter serve` over real HTTP on loopback: a real upstream test server
//! records everything it receives, and every test checks both the answer to
//! the sender and that nothing unfiltered reached the upstream (nor the
//! logs, metrics or answers).

mod basics;
mod hardening;
mod queued;
mod secrets;
mod support;
