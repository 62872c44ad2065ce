//! `leadfilter queue CONFIG list|retry|drop|stats`: what waits in a
//! proxy's store, and what to do with dead letters. Never a lead's
//! content: ids, routes, attempts, statuses and times only.
//!
//! While a proxy holds the store it is asked (a Unix socket in the store's
//! directory); otherwise the store is opened here.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use leadfilter::delivery::control::{self, Answer, Request};
use leadfilter::delivery::schedule::now_millis;
use leadfilter::delivery::{LocalStore, Meta, Queue, Sealer};
use leadfilter::secrets::Kind;
use leadfilter::serve::Config;
use leadfilter::serve::config::StoreType;

use super::{CommandResult, exit};

/// Arguments of `leadfilter queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// The proxy's configuration file (its `store:` is the queue).
    config: std::path::PathBuf,
    #[command(subcommand)]
    action: Action,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Every queued delivery: id, route, attempts, last status, next
    /// attempt.
    List {
        /// Only dead letters.
        #[arg(long)]
        dead: bool,
    },
    /// Make deliveries due now, with a fresh schedule.
    Retry {
        /// Delivery ids.
        ids: Vec<String>,
        /// Every dead letter.
        #[arg(long)]
        all_dead: bool,
    },
    /// Remove deliveries (their leads are gone for good).
    Drop {
        /// Delivery ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Pending and dead deliveries per route, and the oldest pending.
    Stats,
}

/// Runs one queue action.
pub fn run(args: QueueArgs) -> CommandResult {
    let config = match Config::from_file(&args.config) {
        Ok(config) => config,
        Err(err) => {
            note!("leadfilter: error: {err}");
            return Ok(exit::POLICY_OR_RUNTIME);
        }
    };
    let Some(store) = &config.store else {
        note!(
            "leadfilter: error: `{}` has no `store:`: nothing is queued",
            args.config.display()
        );
        return Ok(exit::POLICY_OR_RUNTIME);
    };
    if store.kind != StoreType::Local {
        note!("leadfilter: error: store.type: `nats` is not in this version yet");
        return Ok(exit::POLICY_OR_RUNTIME);
    }
    let Some(path) = &store.path else {
        note!("leadfilter: error: store.path: a local store needs its directory");
        return Ok(exit::POLICY_OR_RUNTIME);
    };
    let dir = config.resolve(path);
    let request = match args.action {
        Action::List { dead } => Request::List { dead },
        Action::Retry { ids, all_dead } => {
            if ids.is_empty() && !all_dead {
                note!("leadfilter: error: name delivery ids, or `--all-dead`");
                return Ok(exit::USAGE);
            }
            Request::Retry { ids, all_dead }
        }
        Action::Drop { ids } => Request::Drop { ids },
        Action::Stats => Request::Stats,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime.block_on(async {
        if let Some(answer) = control::ask(&dir, &request).await {
            return answer.map_err(|e| format!("the running proxy did not answer: {e}"));
        }
        // No proxy: open the store here.
        let key = config
            .read_secret(None, &store.key, Kind::StoreKey)
            .map_err(|e| format!("store.key: {e}"))?;
        let local = LocalStore::open(&dir, Sealer::new(&key), store.max_bytes())
            .map_err(|e| format!("store: {e}"))?;
        let queue = Queue::Local(Arc::new(local));
        Ok(control::answer(&queue, request, now_millis()).await)
    });
    let answer = match answer {
        Ok(Answer::Error(message)) | Err(message) => {
            note!("leadfilter: error: `{}`: {message}", args.config.display());
            return Ok(exit::POLICY_OR_RUNTIME);
        }
        Ok(answer) => answer,
    };
    print(&answer, args.json).context("cannot write the answer")?;
    Ok(exit::SUCCESS)
}

/// A time in Unix milliseconds as RFC 3339 (UTC, seconds).
fn at(millis: u64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
    humantime::format_rfc3339_seconds(time).to_string()
}

fn print(answer: &Answer, json: bool) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let value = match answer {
            Answer::Deliveries(list) => serde_json::to_value(list),
            Answer::Count(n) => Ok(serde_json::json!({ "count": n })),
            Answer::Stats(stats) => serde_json::to_value(stats),
            Answer::Error(_) => Ok(serde_json::Value::Null),
        }
        .unwrap_or_default();
        return writeln!(out, "{value}");
    }
    match answer {
        Answer::Deliveries(list) => {
            writeln!(
                out,
                "delivery_id\troute\tdestination\tattempts\tlast_status\tnext_attempt\tstate"
            )?;
            for Meta {
                id,
                route,
                destination,
                attempts,
                next_attempt,
                last_status,
                dead,
                ..
            } in list
            {
                writeln!(
                    out,
                    "{id}\t{route}\t{}\t{attempts}\t{}\t{}\t{}",
                    destination.as_deref().unwrap_or("-"),
                    last_status.as_deref().unwrap_or("-"),
                    if *dead { "-".into() } else { at(*next_attempt) },
                    if *dead { "dead" } else { "pending" },
                )?;
            }
            Ok(())
        }
        Answer::Count(n) => writeln!(out, "{n}"),
        Answer::Stats(stats) => {
            writeln!(out, "route\tpending\tdead\toldest_pending")?;
            for (route, s) in stats {
                writeln!(
                    out,
                    "{route}\t{}\t{}\t{}",
                    s.pending,
                    s.dead,
                    s.oldest_pending.map_or("-".into(), at)
                )?;
            }
            Ok(())
        }
        Answer::Error(_) => Ok(()),
    }
}
