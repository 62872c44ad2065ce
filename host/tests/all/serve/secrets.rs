//! Secret material is decoded strictly (hardening, item 1): a secret that is
//! empty, does not decode or is too short stops the route from loading, at
//! start and on reload, naming the secret and never its value. Before, a
//! Standard Webhooks secret that was not UTF-8 or was exactly `whsec_`
//! became an empty HMAC key, and webhooks signed with it were forwarded.

use super::support::*;

/// Why `serve` refuses a route whose `auth:` is `auth` when the file
/// `name` holds `value`. The other secrets (`pepper`, the policy's, and `k`)
/// are fine unless `name` is one of them; `name` is a secret unless it has
/// an extension (a JWKS file). `Server::check` (what `serve --check` runs)
/// and `Server::start` must agree.
async fn refusal(auth: &str, name: &str, value: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut files = vec![
        ("pepper", b"pepper-value-for-tests".as_slice()),
        ("k", b"an-api-key-for-tests".as_slice()),
    ];
    files.retain(|(file, _)| *file != name);
    files.push((name, value));
    let mut secrets = Vec::new();
    for (file, content) in files {
        std::fs::write(dir.path().join(file), content).unwrap();
        if !file.contains('.') {
            secrets.push(format!("{file}: file:{file}"));
        }
    }
    let text = format!(
        "listen: 127.0.0.1:0\nsecrets: {{ {secrets} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {auth}\n    upstream: {{ url: 'https://example.com/' }}\n",
        secrets = secrets.join(", "),
        policy = policy_file(1).display(),
    );
    let config = Config::from_yaml(&text, Path::new("t.yaml"), dir.path()).unwrap();
    let options = ServeOptions {
        cache: cache(),
        logs: None,
    };
    let checked = within(Server::check(&config, options))
        .await
        .expect_err("`serve --check` refuses the secret")
        .to_string();
    let started = start_error(config).await;
    assert_eq!(checked, started);
    assert!(checked.contains("routes[0]"), "{checked}");
    assert!(checked.contains(&format!("`{name}`")), "{checked}");
    if let Ok(text) = std::str::from_utf8(value)
        && text.len() >= 4
    {
        assert!(!checked.contains(text), "the value leaked: {checked}");
    }
    checked
}

const WHSEC: &str = "{ type: standard-webhooks, secrets: [whsec] }";
const HMAC: &str = "{ type: hmac-sha256, header: X-Hub-Signature-256, prefix: 'sha256=', encoding: hex, secrets: [signing] }";

fn whsec_of(bytes: usize) -> String {
    format!("whsec_{}", BASE64.encode(vec![0x5a; bytes]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_secrets_that_do_not_decode_are_refused() {
    let utf16: Vec<u8> = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let err = refusal(WHSEC, "whsec", &utf16).await;
    assert!(err.contains("not UTF-8"), "{err}");
    let err = refusal(WHSEC, "whsec", b"whsec_").await;
    assert!(err.contains("is empty"), "{err}");
    let err = refusal(WHSEC, "whsec", b"whsec_not*base64*at*all").await;
    assert!(err.contains("base64"), "{err}");
    let err = refusal(WHSEC, "whsec", whsec_of(23).as_bytes()).await;
    assert!(err.contains("shorter than the 24 bytes"), "{err}");
    let err = refusal(WHSEC, "whsec", whsec_of(65).as_bytes()).await;
    assert!(err.contains("longer than the 64 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_or_empty_keys_are_refused() {
    let err = refusal(HMAC, "signing", b"").await;
    assert!(err.contains("is not set") && err.contains("empty"), "{err}");
    let err = refusal(HMAC, "signing", b"short-key\n").await;
    assert!(err.contains("shorter than the 16 bytes"), "{err}");
    let api = "{ type: api-key, keys: [k] }";
    let err = refusal(api, "k", b"short-key").await;
    assert!(err.contains("shorter than the 16 bytes"), "{err}");
    let err = refusal(api, "k", b"an api key with spaces").await;
    assert!(err.contains("HTTP header"), "{err}");
    // The policy's own keyed-hash pepper.
    let err = refusal(api, "pepper", b"pep").await;
    assert!(err.contains("shorter than the 16 bytes"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_with_a_shared_secret_or_a_weak_rsa_key_is_refused() {
    let jwt = |file: &str| {
        format!(
            "{{ type: jwt, jwks_file: {file}, issuer: 'https://issuer.test', audience: [leads] }}"
        )
    };
    let oct =
        serde_json::json!({"keys": [{"kty": "oct", "k": BASE64URL.encode([7u8; 32]), "kid": "s"}]});
    let err = refusal(&jwt("jwks.json"), "jwks.json", oct.to_string().as_bytes()).await;
    assert!(err.contains("kty: oct"), "{err}");
    let mut modulus = vec![0xc5u8; 128];
    modulus[127] |= 1;
    let weak = serde_json::json!({"keys": [{"kty": "RSA", "n": BASE64URL.encode(&modulus), "e": "AQAB", "kid": "r"}]});
    let err = refusal(&jwt("jwks.json"), "jwks.json", weak.to_string().as_bytes()).await;
    assert!(err.contains("1024 bits"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_secret_on_reload_keeps_the_old_key() {
    let proxy = start(WHSEC, "").await;
    let body = lead("Ada");
    let ok = proxy
        .post(&standard_webhook("msg_r1", now(), &body), &body)
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    std::fs::write(proxy._dir.path().join("whsec"), "whsec_").unwrap();
    let server = proxy.server.as_ref().unwrap();
    let reloaded = within(server.reload()).await;
    let refused = reloaded[0].result.as_ref().unwrap_err();
    assert!(
        refused.contains("`whsec`") && refused.contains("is empty"),
        "{refused}"
    );
    // The genuine key still verifies; the empty key does not.
    let again = proxy
        .post(&standard_webhook("msg_r2", now(), &body), &body)
        .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let empty_key = hmac_sha256(
        b"",
        &[format!("msg_r3.{}.", now()).as_bytes(), body.as_bytes()],
    );
    let forged = vec![
        ("webhook-id", "msg_r3".to_owned()),
        ("webhook-timestamp", now().to_string()),
        (
            "webhook-signature",
            format!("v1,{}", BASE64.encode(empty_key)),
        ),
    ];
    assert_eq!(proxy.post(&forged, &body).await.status, 401);
    assert_eq!(proxy.upstream.hooks().len(), 2);
    proxy.stop().await;
}

#[test]
fn serve_check_through_the_binary_refuses_an_empty_whsec() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("whsec"), "whsec_\n").unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    let config = dir.path().join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nsecrets: {{ whsec: file:whsec, pepper: file:pepper }}\nroutes:\n  - path: /hook\n    policy: {}\n    auth: {WHSEC}\n    upstream: {{ url: 'https://example.com/' }}\n",
            policy_file(1).display()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_leadfilter"))
        .args(["serve", "--check"])
        .arg(&config)
        .env(
            "LEADFILTER_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cache"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("`whsec`") && stderr.contains("is empty"),
        "{stderr}"
    );
}

/// `upstream.url_secret`: a catch hook's URL is a credential. The URL comes
/// from a secret, leads reach it, and neither the logs nor a refusal show
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_url_from_a_secret_is_used_and_never_shown() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hook = format!("{}/catch/s3cr3t-zap-path", upstream.url());
    std::fs::write(dir.path().join("hook-url"), format!("{hook}\n")).unwrap();
    std::fs::write(dir.path().join("pepper"), "pepper-value-for-tests").unwrap();
    std::fs::write(dir.path().join("k"), "an-api-key-for-tests").unwrap();
    let text = |secret: &str| {
        format!(
            "listen: 127.0.0.1:0\nsecrets: {{ pepper: file:pepper, k: file:k, hook-url: file:{secret} }}\nroutes:\n  - path: /hook\n    policy: {policy}\n    auth: {{ type: api-key, keys: [k] }}\n    upstream: {{ url_secret: hook-url, allow_http_loopback: true }}\n",
            policy = policy_file(1).display(),
        )
    };
    let (server, logs) = serve_logged(&text("hook-url"), dir.path()).await;
    let answer = send(
        server.local_addr(),
        "POST",
        "/hook",
        &api_key("an-api-key-for-tests"),
        &lead("Ada"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let received = upstream.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/hook/catch/s3cr3t-zap-path");
    within(server.shutdown()).await;
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(!logs.contains("s3cr3t"), "the logs show the URL: {logs}");

    // A secret that is not an allowed URL: the error names the secret only.
    std::fs::write(dir.path().join("bad-url"), "http://example.com/s3cr3t").unwrap();
    let config = Config::from_yaml(&text("bad-url"), Path::new("t.yaml"), dir.path()).unwrap();
    let err = start_error(config).await;
    assert!(
        err.contains("`hook-url`") && err.contains("loopback"),
        "{err}"
    );
    assert!(
        !err.contains("s3cr3t") && !err.contains("example.com"),
        "{err}"
    );
}
