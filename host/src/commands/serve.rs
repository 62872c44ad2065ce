//! `leadfilter serve`: the webhook proxy (see `leadfilter::serve`).
//!
//! Runs until SIGTERM or SIGINT (then finishes the requests in flight);
//! SIGHUP reloads every route's policy, keys and secrets, keeping the old
//! ones for a route whose new ones are refused.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use leadfilter::serve::{Config, ServeOptions, Server};

use super::{CommandResult, exit};

/// Arguments of `leadfilter serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (YAML; see docs/serve.md and
    /// schemas/serve.schema.json).
    config: PathBuf,
    /// Check the configuration and load every route (policies, secrets,
    /// keys, certificates), print each route's policy digest, and exit
    /// without listening.
    #[arg(long)]
    check: bool,
}

/// Runs the proxy until it is told to stop.
pub fn run(args: ServeArgs) -> CommandResult {
    let config = match Config::from_file(&args.config) {
        Ok(config) => config,
        Err(err) => {
            note!("leadfilter: error: {err}");
            return Ok(exit::POLICY_OR_RUNTIME);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let name = args.config.display().to_string();
    runtime.block_on(async move {
        if args.check {
            return match Server::check(&config, ServeOptions::default()).await {
                Ok(routes) => {
                    for (path, digest) in routes {
                        println!("{path}\t{digest}");
                    }
                    note!("leadfilter: `{name}` is fine");
                    Ok(exit::SUCCESS)
                }
                Err(err) => {
                    note!("leadfilter: error: `{name}`: {err}");
                    Ok(exit::POLICY_OR_RUNTIME)
                }
            };
        }
        let server = match Server::start(config, ServeOptions::default()).await {
            Ok(server) => server,
            Err(err) => {
                note!("leadfilter: error: `{name}`: {err}");
                return Ok(exit::POLICY_OR_RUNTIME);
            }
        };
        wait_for_signals(&server).await?;
        server.shutdown().await;
        Ok(exit::SUCCESS)
    })
}

#[cfg(unix)]
async fn wait_for_signals(server: &Server) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    loop {
        tokio::select! {
            _ = hangup.recv() => {
                server.reload().await;
            }
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_server: &Server) -> Result<()> {
    tokio::signal::ctrl_c().await.context("cannot watch Ctrl-C")
}
