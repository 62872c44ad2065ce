//! The proxy as round one built it: every inbound check, answers, limits,
//! reloads, TLS, OAuth, the binary.

use super::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_authenticate_and_only_filtered_leads_are_forwarded() {
    let proxy = start(API_KEY, "").await;
    let missing = proxy.post(&[], &lead("Ada")).await;
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert!(missing.body.contains("unauthenticated"));
    let wrong = proxy
        .post(&api_key("new-api-key-for-tesus"), &lead("Ada"))
        .await;
    assert_eq!(wrong.status, 401);
    assert!(
        proxy.upstream.hooks().is_empty(),
        "nothing unauthenticated is forwarded"
    );

    for key in ["old-api-key-for-tests", "new-api-key-for-tests"] {
        let ok = proxy.post(&api_key(key), &lead("Ada")).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(ok.body.contains("forwarded"));
    }
    let hooks = proxy.upstream.hooks();
    assert_eq!(hooks.len(), 2);
    let body: serde_json::Value = serde_json::from_str(&hooks[0].body).unwrap();
    assert_eq!(body["first_name"], "Ada");
    assert_eq!(body["consent"], true);
    assert_eq!(body["notes"], "card [CREDIT_CARD]");
    assert_eq!(body["email"].as_str().unwrap().len(), 64, "a keyed hash");
    assert!(body.get("last_name").is_none() && body.get("phone").is_none());
    assert_eq!(
        hooks[0].headers["authorization"],
        "Bearer upstream-token-value"
    );
    assert_eq!(hooks[0].headers["x-source"], "leadfilter");
    assert_eq!(hooks[0].headers["content-type"], "application/json");
    assert!(hooks[0].headers.contains_key("x-request-id"));

    let logs = proxy.logs();
    assert!(logs.contains(r#""log":"audit""#), "{logs}");
    assert!(logs.contains(r#""action":"hash""#), "{logs}");
    assert!(logs.contains(r#""digest":"sha256:"#), "{logs}");
    let metrics = proxy.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"leadfilter_requests_total{route="/hook",status="200"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"leadfilter_auth_failures_total{route="/hook",reason="missing"} 1"#)
    );
    assert!(
        metrics.contains(r#"leadfilter_auth_failures_total{route="/hook",reason="invalid"} 1"#)
    );
    assert!(metrics.contains("leadfilter_filter_duration_seconds_bucket"));
    assert!(metrics.contains("leadfilter_upstream_duration_seconds_bucket"));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_signatures_github_and_typeform_style() {
    // GitHub: `X-Hub-Signature-256: sha256=<hex>`.
    let proxy = start(
        "{ type: hmac-sha256, header: X-Hub-Signature-256, prefix: 'sha256=', encoding: hex, secrets: [signing] }",
        "",
    )
    .await;
    let body = lead("Ada");
    let hex: String = hmac_sha256(b"hmac-signing-key", &[body.as_bytes()])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ok = proxy
        .post(&[("x-hub-signature-256", format!("sha256={hex}"))], &body)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let tampered = body.replace("Ada", "Eve");
    let bad = proxy
        .post(
            &[("x-hub-signature-256", format!("sha256={hex}"))],
            &tampered,
        )
        .await;
    assert_eq!(bad.status, 401);
    let bad = proxy
        .post(&[("x-hub-signature-256", "sha256=00".into())], &body)
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(proxy.upstream.hooks().len(), 1);
    proxy.stop().await;

    // Typeform: `Typeform-Signature: sha256=<base64>`.
    let proxy = start(
        "{ type: hmac-sha256, header: Typeform-Signature, prefix: 'sha256=', encoding: base64, secrets: [signing] }",
        "",
    )
    .await;
    let signature = BASE64.encode(hmac_sha256(b"hmac-signing-key", &[body.as_bytes()]));
    let ok = proxy
        .post(
            &[("typeform-signature", format!("sha256={signature}"))],
            &body,
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let wrong_key = BASE64.encode(hmac_sha256(b"another-key", &[body.as_bytes()]));
    let bad = proxy
        .post(
            &[("typeform-signature", format!("sha256={wrong_key}"))],
            &body,
        )
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(proxy.upstream.hooks().len(), 1);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_signatures_window_and_replays() {
    let proxy = start("{ type: standard-webhooks, secrets: [whsec] }", "").await;
    let body = lead("Ada");
    let ok = proxy
        .post(&standard_webhook("msg_1", now(), &body), &body)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let replayed = proxy
        .post(&standard_webhook("msg_1", now(), &body), &body)
        .await;
    assert_eq!(replayed.status, 401, "a replayed id is refused");
    let stale = proxy
        .post(&standard_webhook("msg_2", now() - 301, &body), &body)
        .await;
    assert_eq!(stale.status, 401, "outside the window");
    let future = proxy
        .post(&standard_webhook("msg_3", now() + 301, &body), &body)
        .await;
    assert_eq!(future.status, 401, "outside the window");
    let mut forged = standard_webhook("msg_4", now(), &body);
    forged[2].1 = "v1,Zm9vYmFy".into();
    assert_eq!(proxy.post(&forged, &body).await.status, 401);
    assert_eq!(proxy.upstream.hooks().len(), 1);

    // A delivery that failed upstream may be retried with the same id.
    proxy.upstream.set(500, Duration::ZERO);
    let failed = proxy
        .post(&standard_webhook("msg_5", now(), &body), &body)
        .await;
    assert_eq!(failed.status, 502);
    proxy.upstream.set(200, Duration::ZERO);
    let retried = proxy
        .post(&standard_webhook("msg_5", now(), &body), &body)
        .await;
    assert_eq!(retried.status, 200, "{}", retried.body);

    let metrics = proxy.get("/metrics").await.body;
    assert!(metrics.contains(r#"reason="replayed"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"reason="expired"} 2"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_signature_issuer_audience_expiry() {
    let keys = tempfile::tempdir().unwrap();
    let (jwks, key) = jwt_keys(keys.path());
    let proxy = start(
        &format!(
            "{{ type: jwt, jwks_file: {}, issuer: 'https://issuer.test', audience: [leadfilter] }}",
            jwks.display()
        ),
        "",
    )
    .await;
    let bearer = |t: String| vec![("authorization", format!("Bearer {t}"))];
    let ok = proxy
        .post(
            &bearer(token(&key, "leadfilter", now() + 600)),
            &lead("Ada"),
        )
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let expired = proxy
        .post(
            &bearer(token(&key, "leadfilter", now() - 600)),
            &lead("Ada"),
        )
        .await;
    assert_eq!(expired.status, 401);
    let audience = proxy
        .post(
            &bearer(token(&key, "someone-else", now() + 600)),
            &lead("Ada"),
        )
        .await;
    assert_eq!(audience.status, 401);
    let other_dir = tempfile::tempdir().unwrap();
    let (_, other) = jwt_keys(other_dir.path());
    let forged = proxy
        .post(
            &bearer(token(&other, "leadfilter", now() + 600)),
            &lead("Ada"),
        )
        .await;
    assert_eq!(forged.status, 401);
    assert_eq!(proxy.post(&[], &lead("Ada")).await.status, 401);
    assert_eq!(proxy.upstream.hooks().len(), 1);
    let metrics = proxy.get("/metrics").await.body;
    assert!(metrics.contains(r#"reason="expired"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_leads_are_answered_422_and_never_forwarded() {
    let proxy = start(API_KEY, "").await;
    let rejected = proxy
        .post(&api_key("new-api-key-for-tests"), NO_CONSENT)
        .await;
    assert_eq!(rejected.status, 422);
    let body: serde_json::Value = serde_json::from_str(&rejected.body).unwrap();
    assert_eq!(body["kind"], "rejected");
    let broken = proxy
        .post(
            &api_key("new-api-key-for-tests"),
            r#"{"email":"ada.marker@example.com","#,
        )
        .await;
    assert_eq!(broken.status, 422);
    assert!(broken.body.contains("invalid-json"));
    let duplicate = proxy
        .post(
            &api_key("new-api-key-for-tests"),
            r#"{"email":"ada.marker@example.com","email":"x@y.z","consent":true}"#,
        )
        .await;
    assert_eq!(duplicate.status, 422);
    assert!(proxy.upstream.hooks().is_empty());
    let metrics = proxy.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"leadfilter_filter_failures_total{route="/hook",kind="rejected"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"kind="invalid-json"} 2"#), "{metrics}");
    proxy.stop().await;
}

/// A lead the sandbox stops (here: more memory than the route allows) is
/// answered 422 with the sandbox's kind, never forwarded, and no value of it
/// shows in the answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_the_sandbox_stops_is_422_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\nlimits: {{ max_body_bytes: 2000000 }}\nsandbox: {{ memory_mib: 4 }}\nsecrets: {{ k: file:{k}, pepper: file:{p} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
        k = dir.path().join("k").display(),
        p = dir.path().join("pepper").display(),
        policy = policy_file(1).display(),
        url = upstream.url(),
    );
    let server = serve_quietly(&text, dir.path()).await;
    let notes = "ada.marker@example.com +1 555 0100 ".repeat(30_000);
    let heavy = format!(r#"{{"email":"ada.marker@example.com","notes":"{notes}","consent":true}}"#);
    let answer = send(
        server.local_addr(),
        "POST",
        "/hook",
        &api_key("new-api-key-for-tests"),
        &heavy,
    )
    .await;
    assert_eq!(answer.status, 422, "{}", answer.body);
    let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(body["kind"], "memory");
    assert!(!answer.body.contains("marker"), "{}", answer.body);
    assert!(upstream.hooks().is_empty());
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_slow_clients_and_wrong_methods() {
    let proxy = start(API_KEY, "").await;
    let big = format!(r#"{{"notes":"{}","consent":true}}"#, "x".repeat(5000));
    assert_eq!(
        proxy
            .post(&api_key("new-api-key-for-tests"), &big)
            .await
            .status,
        413
    );
    assert_eq!(
        send(
            proxy.addr,
            "GET",
            "/hook",
            &api_key("new-api-key-for-tests"),
            ""
        )
        .await
        .status,
        405
    );
    assert_eq!(
        send(proxy.addr, "POST", "/nowhere", &[], "{}").await.status,
        404
    );

    // A client that sends its head, then half its body, then nothing.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let body = lead("Ada");
    let head = format!(
        "POST /hook HTTP/1.1\r\nhost: x\r\nx-api-key: new-api-key-for-tests\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..20]).await.unwrap();
    let mut answer = String::new();
    let started = std::time::Instant::now();
    within(stream.read_to_string(&mut answer)).await.ok();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A client that never finishes its head is disconnected.
    let mut stream = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"POST /hook HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    within(stream.read_to_end(&mut rest)).await.ok();
    assert!(proxy.upstream.hooks().is_empty());
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_502_or_504_so_the_sender_retries() {
    let proxy = start(API_KEY, "").await;
    proxy.upstream.set(500, Duration::ZERO);
    let failed = proxy
        .post(&api_key("new-api-key-for-tests"), &lead("Ada"))
        .await;
    assert_eq!(failed.status, 502);
    assert!(
        !failed.body.contains("echo"),
        "the upstream's answer is not passed on"
    );
    proxy.upstream.set(200, Duration::from_millis(5000));
    let slow = proxy
        .post(&api_key("new-api-key-for-tests"), &lead("Ada"))
        .await;
    assert_eq!(slow.status, 504);
    proxy.stop().await;

    // Nobody listening.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\nsecrets: {{ k: file:{k}, pepper: file:{p} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url: 'http://127.0.0.1:{port}/hook', allow_http_loopback: true }}\n",
        k = dir.path().join("k").display(),
        p = dir.path().join("pepper").display(),
        policy = policy_file(1).display(),
    );
    let server = serve_quietly(&text, dir.path()).await;
    let down = send(
        server.local_addr(),
        "POST",
        "/hook",
        &api_key("new-api-key-for-tests"),
        &lead("Ada"),
    )
    .await;
    assert_eq!(down.status, 502, "{}", down.body);
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_clients_are_throttled() {
    let proxy = start(API_KEY, "throttle: { max_failures: 3, window_seconds: 60 }").await;
    for _ in 0..3 {
        assert_eq!(
            proxy.post(&api_key("guess"), &lead("Ada")).await.status,
            401
        );
    }
    let throttled = proxy
        .post(&api_key("new-api-key-for-tests"), &lead("Ada"))
        .await;
    assert_eq!(
        throttled.status, 429,
        "even a good key waits out the window"
    );
    assert!(proxy.upstream.hooks().is_empty());
    let metrics = proxy.get("/metrics").await.body;
    assert!(metrics.contains(r#"reason="throttled"} 1"#), "{metrics}");
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let proxy = start(API_KEY, "").await;
    assert_eq!(proxy.get("/healthz").await.status, 200);
    assert_eq!(proxy.get("/readyz").await.status, 200);
    assert_eq!(
        proxy
            .post(&api_key("new-api-key-for-tests"), &lead("Ada"))
            .await
            .status,
        200
    );
    let metrics = proxy.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("# TYPE leadfilter_requests counter"));
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_leads_are_each_forwarded_once_or_refused() {
    let proxy = Arc::new(start(API_KEY, "").await);
    const N: usize = 60;
    let semaphore = Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = Vec::new();
    for i in 0..N {
        let proxy = proxy.clone();
        let semaphore = semaphore.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = semaphore.acquire().await.unwrap();
            let body = if i % 5 == 0 {
                NO_CONSENT.replace("Ada", &format!("lead-{i}"))
            } else {
                lead(&format!("lead-{i}"))
            };
            (
                i,
                proxy
                    .post(&api_key("new-api-key-for-tests"), &body)
                    .await
                    .status,
            )
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(within(task).await.unwrap());
    }
    let hooks = proxy.upstream.hooks();
    let mut forwarded = 0;
    for (i, status) in answers {
        let name = format!("\"lead-{i}\"");
        let copies = hooks.iter().filter(|h| h.body.contains(&name)).count();
        if status == 200 {
            forwarded += 1;
            assert_eq!(copies, 1, "lead {i} forwarded once");
        } else {
            assert_eq!(status, 422, "lead {i}");
            assert_eq!(copies, 0, "lead {i} not forwarded");
        }
    }
    assert_eq!(forwarded, N - N / 5);
    assert_eq!(hooks.len(), forwarded);
    let proxy = Arc::try_unwrap(proxy).ok().unwrap();
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_during_traffic_keeps_answering_and_refuses_a_bad_policy() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.wasm");
    std::fs::copy(policy_file(1), &policy).unwrap();
    let proxy = Arc::new(start_with(API_KEY, "", &policy).await);
    let sender = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for i in 0..40 {
                statuses.push(
                    proxy
                        .post(&api_key("new-api-key-for-tests"), &lead(&format!("r-{i}")))
                        .await
                        .status,
                );
            }
            statuses
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A bad policy is refused and the old one kept.
    std::fs::write(&policy, b"not a component").unwrap();
    let report = within(proxy.server.as_ref().unwrap().reload()).await;
    assert!(report[0].result.is_err(), "{report:?}");
    let old_digest = proxy.logs();
    assert!(old_digest.contains("reload-refused"));
    // A good new policy takes over.
    std::fs::copy(policy_file(2), &policy).unwrap();
    let report = within(proxy.server.as_ref().unwrap().reload()).await;
    assert!(report[0].result.is_ok(), "{report:?}");
    let statuses = within(sender).await.unwrap();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let after = proxy
        .post(&api_key("new-api-key-for-tests"), &lead("after"))
        .await;
    assert_eq!(after.status, 200);
    let hooks = proxy.upstream.hooks();
    assert_eq!(hooks.len(), 41);
    assert!(
        !hooks.last().unwrap().body.contains("after"),
        "version 2 drops the first name"
    );
    let metrics = proxy.get("/metrics").await.body;
    assert!(
        metrics.contains(r#"leadfilter_reloads_total{result="failed"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"leadfilter_reloads_total{result="ok"} 1"#),
        "{metrics}"
    );
    let proxy = Arc::try_unwrap(proxy).ok().unwrap();
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_requests_in_flight() {
    let mut proxy = start(API_KEY, "").await;
    proxy.upstream.set(200, Duration::from_millis(1000));
    let addr = proxy.addr;
    let mut in_flight = Vec::new();
    for i in 0..4 {
        in_flight.push(tokio::spawn(async move {
            send(
                addr,
                "POST",
                "/hook",
                &api_key("new-api-key-for-tests"),
                &lead(&format!("s-{i}")),
            )
            .await
            .status
        }));
    }
    // Shut down while all four wait for the (slow) upstream.
    within(async {
        while proxy.upstream.hooks().len() < 4 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let server = proxy.server.take().unwrap();
    let stopping = tokio::spawn(server.shutdown());
    for task in in_flight {
        assert_eq!(
            within(task).await.unwrap(),
            200,
            "in-flight requests finish"
        );
    }
    within(stopping).await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no new connections after shutdown"
    );
    assert_eq!(proxy.upstream.hooks().len(), 4);
    proxy.upstream.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secrets_and_bad_policies_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\nroutes:\n  - path: /hook\n    policy: {}\n    auth: {{ type: api-key, keys: [surely-unset-serve-key] }}\n    upstream: {{ url: 'https://example.com/' }}\n",
        policy_file(1).display()
    );
    let config = Config::from_yaml(&text, Path::new("t.yaml"), dir.path()).unwrap();
    let err = start_error(config).await;
    assert!(err.contains("routes[0]"), "{err}");
    assert!(err.contains("LEADFILTER_SECRET_"), "{err}");

    std::fs::write(dir.path().join("bad.wasm"), b"nope").unwrap();
    let config = Config::from_yaml(
        &text.replace(&policy_file(1).display().to_string(), "bad.wasm"),
        Path::new("t.yaml"),
        dir.path(),
    )
    .unwrap();
    let err = start_error(config).await;
    assert!(err.contains("bad.wasm"), "{err}");
}

#[test]
fn the_example_config_is_valid_and_fits_the_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let example = root.join("examples/serve/serve.yaml");
    let config = Config::from_file(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.routes[0].path, "/hooks/typeform");
    assert!(
        config
            .resolve(config.routes[0].policy.as_deref().unwrap())
            .exists()
    );

    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("schemas/serve.schema.json")).unwrap(),
    )
    .unwrap();
    let schema = leadfilter_engine::schema::Schema::new(&schema).unwrap();
    let text = std::fs::read_to_string(&example).unwrap();
    let document: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(schema.validate(&document), vec![]);
    let mut wrong = document.clone();
    wrong["routes"][0]["auth"]["type"] = "telepathy".into();
    assert!(!schema.validate(&wrong).is_empty());

    // The queued example: read, checked and valid against the schema too.
    let queued = root.join("examples/serve/queued.yaml");
    let config = Config::from_file(&queued).unwrap_or_else(|e| panic!("{e}"));
    assert!(config.routes[0].is_queued());
    assert!(config.store.is_some());
    let text = std::fs::read_to_string(&queued).unwrap();
    let document: serde_json::Value = serde_norway::from_str(&text).unwrap();
    assert_eq!(schema.validate(&document), vec![]);
    let mut wrong = document.clone();
    wrong["routes"][0]["delivery"]["mode"] = "eventually".into();
    assert!(!schema.validate(&wrong).is_empty());
    let mut fan_out = document.clone();
    fan_out["routes"][0]["destinations"] = serde_json::json!([]);
    assert!(
        !schema.validate(&fan_out).is_empty(),
        "policy and destinations both"
    );
}

/// A self-signed certificate for 127.0.0.1 and localhost, made at test time.
struct TestCert {
    cert_pem: PathBuf,
    key_pem: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn test_cert(dir: &Path) -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = dir.join("cert.pem");
    let key_pem = dir.join("key.pem");
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, signing_key.serialize_pem()).unwrap();
    TestCert {
        cert_pem,
        key_pem,
        der: cert.der().clone(),
        key_der: signing_key.serialize_der(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A recording upstream that speaks HTTPS with the test certificate.
async fn tls_upstream(cert: &TestCert) -> Upstream {
    let server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der.clone()],
            rustls::pki_types::PrivateKeyDer::try_from(cert.key_der.clone()).unwrap(),
        )
        .unwrap();
    Upstream::start_with(Some(tokio_rustls::TlsAcceptor::from(Arc::new(
        server_config,
    ))))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_inbound_and_a_custom_ca_for_the_upstream() {
    let certs = tempfile::tempdir().unwrap();
    let cert = test_cert(certs.path());

    // The upstream speaks HTTPS with the test certificate; the route trusts
    // it through `ca_file` (and nothing else).
    let tls_upstream = tls_upstream(&cert).await;

    std::fs::write(certs.path().join("key-new"), "new-api-key-for-tests").unwrap();
    std::fs::write(certs.path().join("pepper"), "pepper-value-for-tests").unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\ntls: {{ cert: {c}, key: {k} }}\nsecrets: {{ key-new: file:{kn}, pepper: file:{p} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [key-new] }}\n    upstream: {{ url: 'https://127.0.0.1:{port}/hook', ca_file: {c} }}\n",
        c = cert.cert_pem.display(),
        k = cert.key_pem.display(),
        kn = certs.path().join("key-new").display(),
        p = certs.path().join("pepper").display(),
        policy = policy_file(1).display(),
        port = tls_upstream.addr.port(),
    );
    let server = serve_quietly(&text, certs.path()).await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der.clone()).unwrap();
    let client_config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config)
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = Request::post(format!(
        "https://127.0.0.1:{}/hook",
        server.local_addr().port()
    ))
    .header("x-api-key", "new-api-key-for-tests")
    .body(Full::new(Bytes::from(lead("Ada"))))
    .unwrap();
    let response = within(client.request(request)).await.unwrap();
    assert_eq!(response.status(), 200);
    let hooks = tls_upstream.hooks();
    assert_eq!(hooks.len(), 1, "delivered over TLS to the upstream");
    tls_upstream.assert_clean();

    // Plain HTTP to the TLS port gets nowhere.
    let plain = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::post(format!(
        "http://127.0.0.1:{}/hook",
        server.local_addr().port()
    ))
    .header("x-api-key", "new-api-key-for-tests")
    .body(Full::new(Bytes::from(lead("Eve"))))
    .unwrap();
    assert!(within(plain.request(request)).await.is_err());
    assert_eq!(tls_upstream.hooks().len(), 1);
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_whose_certificate_is_not_trusted_gets_nothing() {
    let certs = tempfile::tempdir().unwrap();
    let cert = test_cert(certs.path());
    let tls_upstream = tls_upstream(&cert).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    // No `ca_file`: the built-in web roots do not trust a self-signed cert.
    let text = format!(
        "listen: 127.0.0.1:0\nsecrets: {{ k: file:{k}, pepper: file:{p} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url: 'https://127.0.0.1:{port}/hook' }}\n",
        k = dir.path().join("k").display(),
        p = dir.path().join("pepper").display(),
        policy = policy_file(1).display(),
        port = tls_upstream.addr.port(),
    );
    let server = serve_quietly(&text, dir.path()).await;
    let answer = send(
        server.local_addr(),
        "POST",
        "/hook",
        &api_key("new-api-key-for-tests"),
        &lead("Ada"),
    )
    .await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(tls_upstream.hooks().is_empty());
    within(server.shutdown()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_oauth_tokens_are_fetched_cached_and_sent() {
    // The token endpoint is the test upstream's `/token`.
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    std::fs::write(dir.path().join("client"), "client-secret-value").unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\nsecrets: {{ k: file:{k}, pepper: file:{p}, client: file:{c} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream:\n      url: 'http://{addr}/hook'\n      allow_http_loopback: true\n      oauth: {{ token_url: 'http://{addr}/token', client_id: leadfilter-test, client_secret: client, scope: 'leads:write' }}\n",
        k = dir.path().join("k").display(),
        p = dir.path().join("pepper").display(),
        c = dir.path().join("client").display(),
        policy = policy_file(1).display(),
        addr = upstream.addr,
    );
    let server = serve_quietly(&text, dir.path()).await;
    for name in ["Ada", "Grace"] {
        let answer = send(
            server.local_addr(),
            "POST",
            "/hook",
            &api_key("new-api-key-for-tests"),
            &lead(name),
        )
        .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let received = upstream.received.lock().unwrap().clone();
    let tokens: Vec<_> = received.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(tokens.len(), 1, "the token is cached");
    assert!(tokens[0].body.contains("grant_type=client_credentials"));
    assert!(tokens[0].body.contains("client_id=leadfilter-test"));
    assert!(tokens[0].body.contains("client_secret=client-secret-value"));
    assert!(tokens[0].body.contains("scope=leads%3Awrite"));
    let hooks = upstream.hooks();
    assert_eq!(hooks.len(), 2);
    for hook in &hooks {
        assert_eq!(hook.headers["authorization"], "Bearer tok-1");
    }
    upstream.assert_clean();
    within(server.shutdown()).await;
}

/// The real binary: `--check`, a bad configuration, serving, SIGHUP and
/// SIGTERM.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_reloads_on_sighup_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.yaml");
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nsecrets: {{ k: file:k, pepper: file:pepper }}\nlogs: {{ access: stderr, audit: 'off' }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
            policy = policy_file(1).display(),
            url = upstream.url(),
        ),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_leadfilter");
    let cache_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache");

    let checked = Command::new(binary)
        .args(["serve", "--check"])
        .arg(&config)
        .env("LEADFILTER_CACHE_DIR", &cache_dir)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let stdout = String::from_utf8_lossy(&checked.stdout);
    assert!(stdout.starts_with("/hook\tsha256:"), "{stdout}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "listen: 127.0.0.1:0\nroutes: []\n").unwrap();
    let refused = Command::new(binary)
        .args(["serve"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("routes"), "{stderr}");

    let mut child = Command::new(binary)
        .arg("serve")
        .arg(&config)
        .env("LEADFILTER_CACHE_DIR", &cache_dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no line with {needle}"));
            if line.contains(needle) {
                return line;
            }
        }
    };
    let listening: serde_json::Value =
        serde_json::from_str(&wait_for(r#""event":"listening""#)).unwrap();
    let addr: SocketAddr = listening["addr"].as_str().unwrap().parse().unwrap();
    let answer = send(
        addr,
        "POST",
        "/hook",
        &api_key("new-api-key-for-tests"),
        &lead("Ada"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    wait_for(r#""log":"access""#);

    let kill = |signal: &str| {
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    kill("-HUP");
    wait_for(r#""event":"reloaded""#);
    kill("-TERM");
    wait_for(r#""event":"stopped""#);
    let status = within(tokio::task::spawn_blocking(move || child.wait()))
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
    assert_eq!(upstream.hooks().len(), 1);
    upstream.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_the_concurrency_limit_are_503_and_not_forwarded() {
    let upstream = Upstream::start().await;
    upstream.set(200, Duration::from_millis(800));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("k"), "new-api-key-for-tests").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    let text = format!(
        "listen: 127.0.0.1:0\nlimits: {{ max_concurrent_requests: 1 }}\nsecrets: {{ k: file:k, pepper: file:pepper }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url: '{url}', allow_http_loopback: true }}\n",
        policy = policy_file(1).display(),
        url = upstream.url(),
    );
    let server = serve_quietly(&text, dir.path()).await;
    let addr = server.local_addr();
    let first = tokio::spawn(async move {
        send(
            addr,
            "POST",
            "/hook",
            &api_key("new-api-key-for-tests"),
            &lead("first"),
        )
        .await
        .status
    });
    // Wait until the first lead is at the (slow) upstream.
    within(async {
        while upstream.hooks().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let second = send(
        addr,
        "POST",
        "/hook",
        &api_key("new-api-key-for-tests"),
        &lead("second"),
    )
    .await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert_eq!(within(first).await.unwrap(), 200);
    let hooks = upstream.hooks();
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].body.contains("first"));
    upstream.assert_clean();
    within(server.shutdown()).await;
}
