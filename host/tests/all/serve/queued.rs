//! Queued delivery on the local store (SPEC §8), over real HTTP: 202 only
//! after the filtered lead is stored, attempts with one `Idempotency-Key`,
//! the schedule, `Retry-After`, 410 and dead letters, duplicates, fan-out,
//! `on_refused`, a full store, and `kill -9` of a real proxy process.

use std::io::BufRead;
use std::process::{Command, Stdio};

use super::support::*;

/// A store key (32 bytes and more) and the test secrets, in files.
fn write_secrets(dir: &Path) -> String {
    let mut secrets = String::from("secrets:\n");
    for (name, value) in SECRETS
        .iter()
        .copied()
        .chain([("store-key", "a-store-key-of-at-least-thirty-two-bytes")])
    {
        let path = dir.join(name);
        std::fs::write(&path, value).unwrap();
        secrets.push_str(&format!("  {name}: file:{}\n", path.display()));
    }
    secrets
}

/// A configuration with a local store in `dir/store` (with more store
/// keys) and one queued route at `/hook` to `url`, with this `delivery:`
/// (YAML flow).
fn queued_config(dir: &Path, url: &str, delivery: &str, store_extra: &str) -> String {
    format!(
        r#"
listen: 127.0.0.1:0
{secrets}
store: {{ type: local, path: {store}, key: store-key{store_extra} }}
limits: {{ upstream_timeout_ms: 2000 }}
routes:
  - path: /hook
    policy: {policy}
    auth: {API_KEY}
    upstream: {{ url: '{url}', allow_http_loopback: true }}
    delivery: {delivery}
"#,
        secrets = write_secrets(dir),
        store = dir.join("store").display(),
        policy = policy_file(1).display(),
    )
}

fn key() -> Vec<(&'static str, String)> {
    api_key("new-api-key-for-tests")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Waits until `done` holds, polling; a minute at most.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// Posts the test lead; it must be queued. Its delivery id.
async fn post_queued(server: &Server) -> String {
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    json(&answer.body)["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// No log line holds a value of the test lead.
fn assert_logs_clean(logs: &Arc<Mutex<Vec<u8>>>) {
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    for value in PII {
        assert!(!text.contains(value), "the logs hold {value}: {text}");
    }
}

fn log_lines(logs: &Arc<Mutex<Vec<u8>>>) -> Vec<serde_json::Value> {
    String::from_utf8(logs.lock().unwrap().clone())
        .unwrap()
        .lines()
        .map(json)
        .collect()
}

/// No file of the store holds a value of the lead, or a duplicate key.
fn assert_store_clean(dir: &Path, also: &[&str]) {
    for entry in std::fs::read_dir(dir.join("store")).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_file() {
            continue; // the control socket
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        for value in PII.iter().chain(also).chain(["Ada"].iter()) {
            assert!(
                !bytes.windows(value.len()).any(|w| w == value.as_bytes()),
                "the store holds `{value}` in the clear"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_lead_is_answered_202_then_delivered_with_retries_under_one_key() {
    let upstream = Upstream::start().await;
    upstream.set(500, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        "{ mode: queued, retry: [100ms, 500ms, 1s, 1s, 1s, 1s] }",
        "",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let body = json(&answer.body);
    assert_eq!(body["status"], "queued");
    let id = body["delivery_id"].as_str().unwrap().to_owned();
    let request_id = body["request_id"].as_str().unwrap().to_owned();
    assert_store_clean(dir.path(), &[]);

    until("two failed attempts", || upstream.hooks().len() >= 2).await;
    upstream.set(200, Duration::ZERO);
    until("delivered", || {
        log_lines(&logs)
            .iter()
            .any(|l| l["outcome"] == "delivered" && l["delivery_id"] == id.as_str())
    })
    .await;
    let hooks = upstream.hooks();
    assert!(hooks.len() >= 3);
    for hook in &hooks {
        assert_eq!(hook.headers["idempotency-key"], id.as_str());
        assert_eq!(hook.headers["x-request-id"], request_id.as_str());
        assert_eq!(json(&hook.body)["first_name"], "Ada");
    }
    upstream.assert_clean();
    let lines = log_lines(&logs);
    let attempts: Vec<_> = lines
        .iter()
        .filter(|l| l["delivery_id"] == id.as_str() && l.get("attempt").is_some())
        .collect();
    assert_eq!(attempts[0]["outcome"], "retrying");
    assert_eq!(attempts[0]["status"], "500");
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts.last().unwrap()["outcome"], "delivered");
    let queued = lines
        .iter()
        .find(|l| l["queued"] == true)
        .expect("the accept's audit line");
    assert_eq!(queued["delivery_id"], id.as_str());
    assert_logs_clean(&logs);
    // Delivered: removed from the store, and counted.
    let metrics = send(server.local_addr(), "GET", "/metrics", &[], "")
        .await
        .body;
    assert!(
        metrics.contains(r#"leadfilter_deliveries_total{route="/hook",outcome="delivered"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"leadfilter_delivery_attempts_total{route="/hook",status="500"}"#),
        "{metrics}"
    );
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_waited_for_and_410_is_a_dead_letter_at_once() {
    let upstream = Upstream::start().await;
    upstream.set_retry_after(429, "1");
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        "{ mode: queued, retry: [10ms, 10ms, 10ms, 10ms] }",
        "",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    until("the first attempt", || !upstream.hooks().is_empty()).await;
    let first = std::time::Instant::now();
    until("the second attempt", || upstream.hooks().len() >= 2).await;
    // The schedule says 10 ms; the upstream asked for a second.
    assert!(
        first.elapsed() >= Duration::from_millis(900),
        "{:?}",
        first.elapsed()
    );

    upstream.set(410, Duration::ZERO);
    until("dead", || {
        log_lines(&logs).iter().any(|l| l["dead"] == true)
    })
    .await;
    let attempts = upstream.hooks().len();
    let dead = log_lines(&logs)
        .into_iter()
        .find(|l| l["dead"] == true)
        .unwrap();
    assert_eq!(dead["outcome"], "refused-by-upstream");
    assert_eq!(dead["status"], "410");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        upstream.hooks().len(),
        attempts,
        "a dead letter is not tried again"
    );
    assert_logs_clean(&logs);
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_gets_the_first_delivery_id_and_is_not_queued_again() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        r#"{ mode: queued, dedup: { from: "header:x-event-id", window: 1h } }"#,
        "",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let mut headers = key();
    headers.push(("x-event-id", "evt-secret-0001".into()));
    let first = send(server.local_addr(), "POST", "/hook", &headers, &lead("Ada")).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let second = send(server.local_addr(), "POST", "/hook", &headers, &lead("Ada")).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let (first, second) = (json(&first.body), json(&second.body));
    assert_eq!(second["status"], "duplicate");
    assert_eq!(second["delivery_id"], first["delivery_id"]);
    // Another key is another lead.
    headers[1].1 = "evt-secret-0002".into();
    let third = send(server.local_addr(), "POST", "/hook", &headers, &lead("Ada")).await;
    assert_eq!(third.status, 202, "{}", third.body);
    until("two deliveries", || {
        log_lines(&logs)
            .iter()
            .filter(|l| l["outcome"] == "delivered")
            .count()
            == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(upstream.hooks().len(), 2);
    // The duplicate key is kept as a keyed hash only.
    assert_store_clean(dir.path(), &["evt-secret-0001", "evt-secret-0002"]);
    assert_logs_clean(&logs);
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_broken_store_answers_503_and_accepts_nothing() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        "{ mode: queued }",
        ", max_bytes: 1024",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(json(&answer.body)["error"], "store-unavailable");
    assert!(answer.headers.contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(upstream.hooks().is_empty());
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(text.contains(r#""event":"store-error""#), "{text}");
    assert_logs_clean(&logs);
    within(server.shutdown()).await;

    // A store directory that others may write is refused at start.
    let open = tempfile::tempdir().unwrap();
    let text = queued_config(open.path(), &upstream.url(), "{ mode: queued }", "");
    std::fs::create_dir(open.path().join("store")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            open.path().join("store"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
    }
    let config = Config::from_yaml(&text, Path::new("t.yaml"), open.path()).unwrap();
    let err = start_error(config).await;
    assert!(err.starts_with("store: "), "{err}");
}

/// A policy that refuses every test lead (it requires a country).
fn refusing_policy(dir: &Path) -> PathBuf {
    let path = dir.join("refusing.json");
    std::fs::write(
        &path,
        r#"{"apiVersion":"leadfilter/v1","name":"refusing","version":"1.0.0","require":[{"path":"/country","equals":"DE","reason":"German leads only"}],"fields":{"/first_name":"keep"}}"#,
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_webhook_fans_out_to_three_destinations_with_one_refusing_and_one_down() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}/down", down.local_addr().unwrap());
    drop(down);
    let text = format!(
        r#"
listen: 127.0.0.1:0
{secrets}
store: {{ type: local, path: {store}, key: store-key }}
routes:
  - path: /hook
    auth: {API_KEY}
    on_refused: acknowledge
    destinations:
      - {{ name: crm, policy: {v1}, upstream: {{ url: 'http://{addr}/crm', allow_http_loopback: true }}, delivery: {{ mode: queued }} }}
      - {{ name: de-only, policy: {refusing}, upstream: {{ url: 'http://{addr}/de', allow_http_loopback: true }}, delivery: {{ mode: queued }} }}
      - {{ name: sheet, policy: {v2}, upstream: {{ url: '{down_url}', allow_http_loopback: true }}, delivery: {{ mode: queued, retry: [50ms, 50ms, 1h] }} }}
"#,
        secrets = write_secrets(dir.path()),
        store = dir.path().join("store").display(),
        v1 = policy_file(1).display(),
        v2 = policy_file(2).display(),
        refusing = refusing_policy(dir.path()).display(),
        addr = upstream.addr,
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    let body = json(&answer.body);
    let destinations = &body["destinations"];
    assert_eq!(destinations["crm"]["status"], "queued");
    assert_eq!(destinations["sheet"]["status"], "queued");
    assert_eq!(destinations["de-only"]["status"], "refused");
    assert_eq!(destinations["de-only"]["kind"], "rejected");
    assert_ne!(
        destinations["crm"]["delivery_id"],
        destinations["sheet"]["delivery_id"]
    );

    until("the crm delivery", || {
        upstream.received().iter().any(|r| r.path == "/crm")
    })
    .await;
    let sheet = destinations["sheet"]["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    until("the sheet's attempts", || {
        log_lines(&logs)
            .iter()
            .filter(|l| l["delivery_id"] == sheet.as_str() && l["status"] == "not-sent")
            .count()
            >= 2
    })
    .await;
    let received = upstream.received();
    assert!(
        received.iter().all(|r| r.path == "/crm"),
        "only the crm got it"
    );
    assert_eq!(json(&received[0].body)["first_name"], "Ada");
    upstream.assert_clean();
    let lines = log_lines(&logs);
    assert!(
        lines
            .iter()
            .any(|l| l["destination"] == "de-only" && l["failure"] == "rejected")
    );

    // Every destination refuses: with `on_refused: acknowledge`, a 200
    // that says so, and nothing is queued.
    let refused = send(server.local_addr(), "POST", "/hook", &key(), NO_CONSENT).await;
    assert_eq!(refused.status, 200, "{}", refused.body);
    let refused = json(&refused.body);
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["kind"], "rejected");
    // Each refusal counted once: one, then three more.
    let metrics = send(server.local_addr(), "GET", "/metrics", &[], "")
        .await
        .body;
    assert!(
        metrics.contains(r#"leadfilter_filter_failures_total{route="/hook",kind="rejected"} 4"#),
        "{metrics}"
    );
    assert_logs_clean(&logs);
    within(server.shutdown()).await;
}

/// `kill -9` of a real proxy process while leads come in: every lead
/// answered 202 is delivered after a restart, each under its delivery id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lead_answered_202_survives_kill_9() {
    let upstream = Upstream::start().await;
    upstream.set(503, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.yaml");
    std::fs::write(
        &config,
        queued_config(
            dir.path(),
            &upstream.url(),
            &format!("{{ mode: queued, retry: [{}] }}", ["100ms"; 100].join(", ")),
            "",
        ),
    )
    .unwrap();
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_leadfilter"))
            .arg("serve")
            .arg(&config)
            .env(
                "LEADFILTER_CACHE_DIR",
                Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"),
            )
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut lines = stderr.lines();
        let addr: SocketAddr = loop {
            let line = lines
                .next()
                .expect("the proxy said where it listens")
                .unwrap();
            if line.contains(r#""event":"listening""#) {
                break json(&line)["addr"].as_str().unwrap().parse().unwrap();
            }
        };
        // Keep reading, so that the proxy never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (child, addr)
    };
    let (mut child, addr) = start();
    let post = move |i: usize| async move {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let request = Request::post(format!("http://{addr}/hook"))
            .header("x-api-key", "new-api-key-for-tests")
            .body(Full::new(Bytes::from(lead(&format!("Ada{i}")))))
            .unwrap();
        let response = client.request(request).await.ok()?;
        if response.status() != 202 {
            return None;
        }
        let body = response.into_body().collect().await.ok()?.to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).ok()?;
        Some(body["delivery_id"].as_str()?.to_owned())
    };
    // A first wave, all accepted; then a burst with the kill in its middle.
    let mut accepted = Vec::new();
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..15 {
        sends.spawn(post(i));
    }
    while let Some(result) = sends.join_next().await {
        accepted.push(result.unwrap().expect("accepted before the kill"));
    }
    for i in 15..60 {
        sends.spawn(post(i));
    }
    tokio::time::sleep(Duration::from_millis(15)).await;
    child.kill().unwrap();
    while let Some(result) = sends.join_next().await {
        if let Some(id) = result.unwrap() {
            accepted.push(id);
        }
    }
    let _ = child.wait();
    assert!(
        !accepted.is_empty(),
        "some leads were accepted before the kill"
    );
    upstream.set(200, Duration::ZERO);
    let (mut child, _) = start();
    let delivered = |upstream: &Upstream| {
        let keys: std::collections::HashSet<String> = upstream
            .hooks()
            .iter()
            .filter(|r| r.headers.contains_key("idempotency-key"))
            .filter_map(|r| {
                r.headers["idempotency-key"]
                    .to_str()
                    .ok()
                    .map(str::to_owned)
            })
            .collect();
        accepted.iter().all(|id| keys.contains(id))
    };
    let result = tokio::time::timeout(Duration::from_secs(60), async {
        while !delivered(&upstream) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(result.is_ok(), "not every accepted lead was delivered");
    upstream.assert_clean();
    assert_store_clean(dir.path(), &[]);
}

/// `leadfilter queue` through the binary: while the proxy runs it is asked
/// (the control socket), and after it stopped the store is opened
/// directly. Never a lead's content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_command_lists_retries_and_drops_dead_letters() {
    let upstream = Upstream::start().await;
    upstream.set(410, Duration::ZERO);
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(dir.path(), &upstream.url(), "{ mode: queued }", "");
    let config = dir.path().join("serve.yaml");
    std::fs::write(&config, &text).unwrap();
    let queue = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_leadfilter"))
            .arg("queue")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        for value in PII.iter().chain(["Ada"].iter()) {
            assert!(
                !stdout.contains(value) && !stderr.contains(value),
                "{stdout}{stderr}"
            );
        }
        (out.status.code(), stdout, stderr)
    };
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let answer = send(server.local_addr(), "POST", "/hook", &key(), &lead("Ada")).await;
    let id = json(&answer.body)["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    until("dead", || {
        log_lines(&logs).iter().any(|l| l["dead"] == true)
    })
    .await;

    let (code, stdout, stderr) = queue(&["list", "--dead"]);
    assert_eq!(code, Some(0), "{stderr}");
    let row = stdout.lines().nth(1).unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        row.starts_with(&format!("{id}\t/hook\t-\t1\t410\t")),
        "{row}"
    );
    assert!(row.ends_with("\tdead"), "{row}");
    let (_, stdout, _) = queue(&["stats", "--json"]);
    assert_eq!(json(&stdout)["/hook"]["dead"], 1, "{stdout}");

    upstream.set(200, Duration::ZERO);
    let (code, stdout, _) = queue(&["retry", "--all-dead"]);
    assert_eq!((code, stdout.trim()), (Some(0), "1"));
    until("delivered after the retry", || {
        log_lines(&logs).iter().any(|l| l["outcome"] == "delivered")
    })
    .await;
    let (_, stdout, _) = queue(&["drop", "no-such-id"]);
    assert_eq!(stdout.trim(), "0");
    let (code, _, stderr) = queue(&["retry"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_logs_clean(&logs);
    within(server.shutdown()).await;

    // No proxy: the store is opened here, and it is empty now.
    assert!(!dir.path().join("store/control.sock").exists());
    let (code, stdout, stderr) = queue(&["list"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "only the header: {stdout}");
    // A configuration without a store.
    let direct = text
        .replace("store: {", "# store: {")
        .replace("mode: queued", "mode: direct");
    std::fs::write(&config, direct).unwrap();
    let (code, _, stderr) = queue(&["stats"]);
    assert!(
        code == Some(3) && stderr.contains("no `store:`"),
        "{stderr}"
    );
}

/// SIGTERM (a shutdown) while an attempt is in flight: the attempt
/// finishes and is recorded before the proxy stops, and what is still
/// pending stays in the store with its attempts counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_finishes_the_attempt_in_flight_and_keeps_the_rest() {
    let upstream = Upstream::start().await;
    upstream.set(500, Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        "{ mode: queued, retry: [1h] }",
        "",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let id = post_queued(&server).await;
    until("the attempt reached the upstream", || {
        !upstream.hooks().is_empty()
    })
    .await;
    within(server.shutdown()).await;
    assert_logs_clean(&logs);
    let lines = log_lines(&logs);
    let attempt = lines
        .iter()
        .find(|l| l["delivery_id"] == id.as_str() && l["attempt"] == 1)
        .expect("the attempt in flight was recorded before the stop");
    assert_eq!(attempt["outcome"], "retrying");

    // The store is one file one process holds: open it as the next start
    // would (a connection task of the stopped server may still be letting
    // go of it for a moment).
    let open = || {
        leadfilter::delivery::LocalStore::open(
            &dir.path().join("store"),
            leadfilter::delivery::Sealer::new(b"a-store-key-of-at-least-thirty-two-bytes"),
            1 << 30,
        )
    };
    let mut store = open();
    for _ in 0..50 {
        if store.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        store = open();
    }
    let store = store.unwrap();
    let pending = store.list(false).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, id);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].last_status.as_deref(), Some("500"));
    assert!(!pending[0].dead);
}

/// An attempt that times out is `unknown` (the upstream may have the
/// lead): it is tried again with the same `Idempotency-Key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_attempt_is_unknown_and_retried_under_the_same_key() {
    let upstream = Upstream::start().await;
    upstream.set(200, Duration::from_millis(2500));
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(
        dir.path(),
        &upstream.url(),
        "{ mode: queued, retry: [100ms, 1h] }",
        "",
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let id = post_queued(&server).await;
    until("the first attempt timed out", || {
        log_lines(&logs)
            .iter()
            .any(|l| l["delivery_id"] == id.as_str() && l["attempt"] == 1)
    })
    .await;
    upstream.set(200, Duration::ZERO);
    until("delivered", || {
        log_lines(&logs)
            .iter()
            .any(|l| l["delivery_id"] == id.as_str() && l["outcome"] == "delivered")
    })
    .await;
    let lines = log_lines(&logs);
    let first = lines
        .iter()
        .find(|l| l["delivery_id"] == id.as_str() && l["attempt"] == 1)
        .unwrap();
    assert_eq!(first["outcome"], "unknown");
    assert_eq!(first["status"], "unknown");
    let hooks = upstream.hooks();
    assert_eq!(hooks.len(), 2);
    assert!(
        hooks
            .iter()
            .all(|h| h.headers["idempotency-key"] == id.as_str())
    );
    assert_logs_clean(&logs);
    within(server.shutdown()).await;
}

/// `serve --check` reads the store key (present, long enough) without
/// opening the store; the error names the secret, never its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_refuses_a_short_store_key_by_name() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = queued_config(dir.path(), &upstream.url(), "{ mode: queued }", "");
    std::fs::write(dir.path().join("store-key"), "short-key-77").unwrap();
    let config = Config::from_yaml(&text, Path::new("t.yaml"), dir.path()).unwrap();
    let err = Server::check(
        &config,
        ServeOptions {
            cache: cache(),
            logs: None,
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("store.key: ") && err.contains("`store-key`"),
        "{err}"
    );
    assert!(!err.contains("short-key-77"), "{err}");
    assert!(!dir.path().join("store").exists(), "check opened the store");
}
