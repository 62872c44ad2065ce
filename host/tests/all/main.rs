//! The integration tests of `leadfilter`, one binary with a module per area.

mod cli;
mod component;
mod golden;
mod init;
mod serve;
mod testing;
