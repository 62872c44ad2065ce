//! The `leadfilter` binary, run as a user runs it: arguments, stdin, exit
//! codes, stdout and stderr. Every failure path checks that no value from a
//! lead reaches stderr or an error record.

mod basics;
mod hardening;
mod support;
