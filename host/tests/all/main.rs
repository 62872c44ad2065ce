//! The integration tests of `leadfilter`, one binary with a module per area.

mod cli;
mod component;
mod golden;
mod hostile;
mod init;
mod policy_check;
mod serve;
mod testing;
