//! Regression tests of the hardening issue for `leadfilter serve`: routes
//! cannot starve each other, slow bodies hold only their share, every
//! forwarded lead is logged whatever the sender or a shutdown does, a full
//! replay cache asks for a retry, upstream `Retry-After` is passed on, and
//! malformed requests are in the access log.

use tokio::net::TcpSocket;

use super::support::*;
use crate::hostile;

/// Secret files for the routes of these tests.
fn secrets(dir: &Path) -> String {
    std::fs::write(dir.join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.join("pepper"), "pepper-value-for-tests").unwrap();
    std::fs::write(dir.join("signing"), "hmac-signing-key").unwrap();
    "secrets: { k: file:k, pepper: file:pepper, signing: file:signing }".into()
}

const KEY: &str = "{ type: api-key, keys: [k] }";

fn key() -> Vec<(&'static str, String)> {
    api_key("new-api-key-for-tests")
}

/// Item 3: a route whose component never finishes cannot take the
/// instances or threads another route needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_greedy_route_does_not_starve_another() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greedy.wasm"), hostile::looping()).unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\n{secrets}\nsandbox: {{ timeout_ms: 2000 }}\nlimits: {{ filter_concurrency: 1 }}\nroutes:\n  - path: /greedy\n    policy: greedy.wasm\n    auth: {KEY}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n  - path: /hook\n    policy: {policy}\n    auth: {KEY}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
        secrets = secrets(dir.path()),
        policy = policy_file(1).display(),
        url = upstream.url(),
    );
    let (server, _logs) = serve_logged(&text, dir.path()).await;
    let addr = server.local_addr();
    let greedy: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { send(addr, "POST", "/greedy", &key(), "{}").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..3 {
        let normal = send(addr, "POST", "/hook", &key(), &lead(&format!("n{i}"))).await;
        assert_eq!(normal.status, 200, "{}", normal.body);
    }
    assert!(
        greedy.iter().all(|task| !task.is_finished()),
        "the normal route answered while the greedy one was still busy"
    );
    for task in greedy {
        let answer = within(task).await.unwrap();
        assert_eq!(answer.status, 422, "{}", answer.body);
        assert!(
            answer.body.contains("\"kind\":\"timeout\""),
            "{}",
            answer.body
        );
    }
    assert_eq!(upstream.hooks().len(), 3);
    upstream.assert_clean();
    within(server.shutdown()).await;
}

/// A connection from another loopback address, as another client.
async fn connect_from(ip: [u8; 4], to: SocketAddr) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((ip, 0)))
        .expect("a loopback address of its own");
    within(socket.connect(to)).await.unwrap()
}

/// Item 4: many slow bodies from one address hold only that address's and
/// that route's share; a valid request elsewhere is answered, and a body
/// that never comes counts against its sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_cannot_hold_every_request_slot() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hmac = "{ type: hmac-sha256, header: X-Sig, encoding: hex, secrets: [signing] }";
    let text = format!(
        "listen: 127.0.0.1:0\n{secrets}\nlimits: {{ max_concurrent_requests: 16, max_requests_per_client: 4, body_timeout_ms: 1500 }}\nthrottle: {{ max_failures: 3, window_seconds: 60 }}\nroutes:\n  - path: /signed\n    policy: {policy}\n    auth: {hmac}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n  - path: /hook\n    policy: {policy}\n    auth: {KEY}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
        secrets = secrets(dir.path()),
        policy = policy_file(1).display(),
        url = upstream.url(),
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let addr = server.local_addr();
    // Twelve connections from 127.0.0.2, each sending a head and one byte
    // of a 100-byte body.
    let mut slow = Vec::new();
    for _ in 0..12 {
        let mut stream = connect_from([127, 0, 0, 2], addr).await;
        stream
            .write_all(
                b"POST /signed HTTP/1.1\r\nhost: x\r\nx-sig: 00\r\ncontent-length: 100\r\n\r\n{",
            )
            .await
            .unwrap();
        slow.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another client on another route is served at once.
    let ok = send(addr, "POST", "/hook", &key(), &lead("Ada")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    // The slow ones: four wait for their bodies (408 at the timeout), the
    // other eight were refused at once for their address (503).
    let mut statuses = Vec::new();
    for mut stream in slow {
        let mut answer = Vec::new();
        let _ = within(stream.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        statuses.push(text.split(' ').nth(1).unwrap_or("").to_owned());
    }
    statuses.sort();
    assert_eq!(
        statuses.iter().filter(|s| *s == "408").count(),
        4,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| *s == "503").count(),
        8,
        "{statuses:?}"
    );
    // The four body timeouts counted as failures: the address is throttled.
    let mut stream = connect_from([127, 0, 0, 2], addr).await;
    stream
        .write_all(b"POST /hook HTTP/1.1\r\nhost: x\r\nx-api-key: new-api-key-for-tests\r\ncontent-length: 2\r\n\r\n{}")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = within(stream.read_to_end(&mut answer)).await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 429"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let metrics = send(addr, "GET", "/metrics", &[], "").await.body;
    assert!(metrics.contains(r#"reason="client-busy"} 8"#), "{metrics}");
    assert!(metrics.contains(r#"reason="body-timeout"} 4"#), "{metrics}");
    drop(logs);
    within(server.shutdown()).await;
}

/// Item 4: an API key is checked before the body is read, so a slow body
/// without the key is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_checked_before_a_slow_body() {
    let proxy = start(API_KEY, "").await;
    let mut stream = connect_from([127, 0, 0, 3], proxy.addr).await;
    stream
        .write_all(b"POST /hook HTTP/1.1\r\nhost: x\r\nx-api-key: wrong-key-of-enough-length\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    let mut answer = vec![0; 12];
    within(stream.read_exact(&mut answer)).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 401");
    proxy.stop().await;
}

/// Item 5: a sender that hangs up while the upstream is answering does not
/// stop the forward, and both log lines are written, audit first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_forwarded_and_logged_when_the_sender_hangs_up() {
    let proxy = start(API_KEY, "").await;
    proxy.upstream.set(200, Duration::from_millis(1500));
    let body = lead("Ada");
    let mut stream = within(tokio::net::TcpStream::connect(proxy.addr))
        .await
        .unwrap();
    let head = format!(
        "POST /hook HTTP/1.1\r\nhost: x\r\nx-api-key: new-api-key-for-tests\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Hang up once the lead is on its way upstream.
    within(async {
        while proxy.upstream.hooks().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    drop(stream);
    within(async {
        while !proxy.logs().contains("\"log\":\"access\"") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let logs = proxy.logs();
    let audit = logs.find("\"log\":\"audit\"").expect("an audit line");
    let access = logs.find("\"log\":\"access\"").expect("an access line");
    assert!(audit < access, "the audit line comes first: {logs}");
    assert!(logs.contains("\"forwarded\":true"), "{logs}");
    assert!(logs.contains("\"outcome\":\"forwarded\""), "{logs}");
    proxy.stop().await;
}

/// Item 5: a shutdown whose grace is shorter than the upstream's answer
/// still finishes the forward and writes both lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_grace_still_finishes_and_logs_a_forward() {
    let mut proxy = start_with_limits(API_KEY, "", "shutdown_grace_ms: 100", &policy_file(1)).await;
    proxy.upstream.set(200, Duration::from_millis(1500));
    let addr = proxy.addr;
    let body = lead("Ada");
    let request = tokio::spawn(async move { send(addr, "POST", "/hook", &key(), &body).await });
    within(async {
        while proxy.upstream.hooks().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    within(proxy.server.take().unwrap().shutdown()).await;
    let logs = proxy.logs();
    assert!(logs.contains("\"forwarded\":true"), "{logs}");
    assert!(logs.contains("\"outcome\":\"forwarded\""), "{logs}");
    let _ = request.await;
    proxy.upstream.assert_clean();
}

/// Item 6: a route's replay cache full of ids still inside their window
/// answers new messages 503 with `Retry-After` (senders retry), never 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_replay_cache_asks_for_a_retry() {
    let proxy = start_with_limits(
        "{ type: standard-webhooks, secrets: [whsec] }",
        "",
        "shutdown_grace_ms: 10000, replay_capacity: 2",
        &policy_file(1),
    )
    .await;
    let body = lead("Ada");
    for id in ["msg_a", "msg_b"] {
        let ok = proxy.post(&standard_webhook(id, now(), &body), &body).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
    }
    let full = proxy
        .post(&standard_webhook("msg_c", now(), &body), &body)
        .await;
    assert_eq!(full.status, 503, "{}", full.body);
    assert!(full.body.contains("replay-cache-full"), "{}", full.body);
    assert!(full.headers.contains_key("retry-after"));
    let replayed = proxy
        .post(&standard_webhook("msg_a", now(), &body), &body)
        .await;
    assert_eq!(replayed.status, 401);
    let metrics = proxy.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"reason="replay-cache-full"} 1"#),
        "{metrics}"
    );
    assert_eq!(proxy.upstream.hooks().len(), 2);
    proxy.stop().await;
}

/// Item 12: an upstream's `Retry-After` on 429 or 503 reaches the sender.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_retry_after_is_passed_on() {
    let proxy = start(API_KEY, "").await;
    proxy.upstream.set_retry_after(429, "7");
    let answer = proxy.post(&key(), &lead("Ada")).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.headers["retry-after"], "7");
    proxy.upstream.set_retry_after(500, "7");
    let answer = proxy.post(&key(), &lead("Ada")).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(!answer.headers.contains_key("retry-after"));
    proxy.stop().await;
}

/// Item 12: a request hyper answers 400 because it cannot parse it is in
/// the access log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_in_the_access_log() {
    let proxy = start(API_KEY, "").await;
    let mut stream = within(tokio::net::TcpStream::connect(proxy.addr))
        .await
        .unwrap();
    stream.write_all(b"NOT A REQUEST\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = within(stream.read_to_end(&mut answer)).await;
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 400"));
    within(async {
        while !proxy.logs().contains("\"outcome\":\"malformed\"") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(proxy.logs().contains("\"status\":400"), "{}", proxy.logs());
    proxy.stop().await;
}

/// Item 2 through the proxy: a component with many memories is refused
/// when its route loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_with_many_memories_does_not_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("memories.wasm"),
        hostile::many_memories(30, 4),
    )
    .unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\n{secrets}\nroutes:\n  - path: /hook\n    policy: memories.wasm\n    auth: {KEY}\n    upstream: {{ url: 'https://example.com/' }}\n",
        secrets = secrets(dir.path()),
    );
    let config = Config::from_yaml(&text, Path::new("t.yaml"), dir.path()).unwrap();
    let err = start_error(config).await;
    assert!(err.contains("memories.wasm"), "{err}");
}

/// Item 14 (c): every failure kind's 422 answer and audit line, through a
/// real proxy, names paths and rules, never the lead's values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_refusal_or_audit_line_quotes_the_lead() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("in.schema.json"),
        r#"{"type":"object","properties":{"age":{"type":"integer","maximum":120},"email":{"type":"string","format":"email","maxLength":8},"consent":{},"born":{"type":"string"}},"required":["age"]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("out.schema.json"),
        r#"{"type":"object","properties":{"born":{"type":"string","maxLength":3}}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "apiVersion: leadfilter/v1\nname: canaries\nversion: '1'\ninput: { schema: in.schema.json }\noutput: { schema: out.schema.json }\nrequire:\n  - { path: /consent, equals: true, reason: no consent }\nfields:\n  /age: drop\n  /email: drop\n  /consent: drop\n  /born: { date: { precision: day } }\n",
    )
    .unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\n{secrets}\nroutes:\n  - path: /hook\n    policy: policy.yaml\n    auth: {KEY}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
        secrets = secrets(dir.path()),
        url = upstream.url(),
    );
    let (server, logs) = serve_logged(&text, dir.path()).await;
    let canary = "canary-7731-value";
    let cases = [
        (
            format!(r#"{{"age":7731,"email":"{canary}","consent":true}}"#),
            "input-schema",
        ),
        (
            format!(r#"{{"age":1,"consent":true,"born":"{canary}"}}"#),
            "transform",
        ),
        (
            r#"{"age":1,"consent":true,"born":"1977-07-31"}"#.to_owned(),
            "output-schema",
        ),
        (format!(r#"{{"age":1,"consent":"{canary}"}}"#), "rejected"),
        (format!(r#"{{"age":1,"{canary}":}}"#), "invalid-json"),
    ];
    for (lead, kind) in &cases {
        let answer = send(server.local_addr(), "POST", "/hook", &key(), lead).await;
        assert_eq!(answer.status, 422, "{kind}: {}", answer.body);
        assert!(
            answer.body.contains(&format!("\"kind\":\"{kind}\"")),
            "{}",
            answer.body
        );
        for value in [canary, "7731", "1977"] {
            assert!(!answer.body.contains(value), "{kind}: {}", answer.body);
        }
    }
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("\"log\":\"audit\"").count(),
        cases.len(),
        "{text}"
    );
    for value in [canary, "7731", "1977"] {
        assert!(!text.contains(value), "the logs hold `{value}`: {text}");
    }
    assert!(upstream.hooks().is_empty());
    within(server.shutdown()).await;
}
