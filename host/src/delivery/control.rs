//! `leadfilter queue` against a running proxy. The local store is one file
//! that one process holds open (redb locks it), so while a proxy runs, the
//! command asks it: over a Unix socket in the store's directory, which is
//! 0700, so only the store's owner can connect. Without a proxy the command
//! opens the store itself. Either way the same [`Request`]s, the same
//! answers, and never a lead's content.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::queue::Queue;
use super::store::{Meta, RouteStats};

/// The socket's name in the store's directory.
pub const SOCKET: &str = "control.sock";

/// The longest request line read.
const MAX_REQUEST: usize = 1 << 20;

/// What `leadfilter queue` asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// Every delivery's record, or only the dead letters.
    List {
        /// Only dead letters.
        dead: bool,
    },
    /// These deliveries are due again now, with a fresh schedule.
    Retry {
        /// Their ids.
        ids: Vec<String>,
        /// Every dead letter as well.
        all_dead: bool,
    },
    /// Remove these deliveries.
    Drop {
        /// Their ids.
        ids: Vec<String>,
    },
    /// Counts per route.
    Stats,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// For `list`.
    Deliveries(Vec<Meta>),
    /// For `retry` and `drop`: how many were found.
    Count(usize),
    /// For `stats`.
    Stats(std::collections::BTreeMap<String, RouteStats>),
    /// The store failed (the message names no value).
    Error(String),
}

/// Answers one request from the store.
pub async fn answer(queue: &Queue, request: Request, now: u64) -> Answer {
    let result = match request {
        Request::List { dead } => queue.list(dead).await.map(Answer::Deliveries),
        Request::Retry { mut ids, all_dead } => {
            if all_dead {
                match queue.list(true).await {
                    Ok(dead) => ids.extend(dead.into_iter().map(|m| m.id)),
                    Err(e) => return Answer::Error(e.to_string()),
                }
            }
            queue.retry(ids, now).await.map(Answer::Count)
        }
        Request::Drop { ids } => queue.drop_deliveries(ids).await.map(Answer::Count),
        Request::Stats => queue.stats().await.map(Answer::Stats),
    };
    result.unwrap_or_else(|e| Answer::Error(e.to_string()))
}

/// The socket of the store in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Serves requests on the socket until the task is dropped. A stale socket
/// file (left by a proxy that was killed) is replaced.
#[cfg(unix)]
pub async fn serve(
    queue: Queue,
    dir: &Path,
    now: fn() -> u64,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let path = socket_path(dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = tokio::net::UnixListener::bind(&path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let queue = queue.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
                if reader.read_line(&mut line).await.is_err() {
                    return;
                }
                let answer = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => answer(&queue, request, now()).await,
                    Err(_) => Answer::Error("not a queue request".into()),
                };
                let mut text = serde_json::to_string(&answer).unwrap_or_default();
                text.push('\n');
                let _ = write.write_all(text.as_bytes()).await;
            });
        }
    }))
}

/// Asks the proxy that holds the store in `dir`; `None` when no proxy
/// answers there.
#[cfg(unix)]
pub async fn ask(dir: &Path, request: &Request) -> Option<std::io::Result<Answer>> {
    let stream = tokio::net::UnixStream::connect(socket_path(dir))
        .await
        .ok()?;
    Some(
        async {
            let (read, mut write) = stream.into_split();
            let mut text = serde_json::to_string(request)?;
            text.push('\n');
            write.write_all(text.as_bytes()).await?;
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await?;
            serde_json::from_str(&line).map_err(std::io::Error::other)
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire format between `leadfilter queue` and a proxy: one JSON
    /// line each way.
    #[test]
    fn requests_and_answers_are_one_json_object_each() {
        let request = Request::Retry {
            ids: vec!["d-1".into()],
            all_dead: true,
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(text, r#"{"op":"retry","ids":["d-1"],"all_dead":true}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
        assert_eq!(
            serde_json::to_string(&Request::Stats).unwrap(),
            r#"{"op":"stats"}"#
        );
        assert_eq!(
            serde_json::to_string(&Answer::Count(2)).unwrap(),
            r#"{"count":2}"#
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"format-disk"}"#).is_err());
    }

    #[tokio::test]
    async fn the_socket_answers_from_the_store_and_says_when_no_proxy_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::LocalStore::open(
            &dir.path().join("store"),
            super::super::Sealer::new(&[7; 32]),
            1 << 30,
        )
        .unwrap();
        let store_dir = dir.path().join("store");
        assert!(ask(&store_dir, &Request::Stats).await.is_none());
        let queue = Queue::Local(std::sync::Arc::new(store));
        let task = serve(queue, &store_dir, || 0).await.unwrap();
        let answer = ask(&store_dir, &Request::List { dead: false })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, Answer::Deliveries(Vec::new()));
        task.abort();
    }
}
