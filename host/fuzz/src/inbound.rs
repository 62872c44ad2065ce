//! The inbound checks of `leadfilter serve`: any headers and body, against
//! each scheme with two keys configured (as during a rotation). A check
//! answers, never panics; it answers the same twice; a check that does not
//! need the body (API keys, JWTs) answers the same without it.

use std::path::Path;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, Method};
use leadfilter::secrets::material;
use leadfilter::serve::auth::{AuthConfig, Inbound, InboundCheck, build};
use sha2::Sha256;

/// The time every request is checked at (Unix seconds).
pub const NOW: u64 = 1_800_000_000;

/// Test material only: the keys the checks are built with.
pub const API_KEYS: [&str; 2] = ["fuzz-api-key-one-0123456789", "fuzz-api-key-two-0123456789"];
/// HMAC secrets of the `hmac-sha256` checks.
pub const HMAC_SECRETS: [&str; 2] = ["fuzz-hmac-secret-one-0123", "fuzz-hmac-secret-two-0123"];
/// The raw keys of the Standard Webhooks check (each `whsec_` + base64).
pub const WHSEC_KEYS: [[u8; 32]; 2] = [[7; 32], [9; 32]];
/// A P-256 key (PKCS #8) whose public half is the JWKS of the `jwt` check.
const JWT_KEY_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGNLrKJnE9gz7UHn95hjtMg+oBOfdo94P+6NW/GkORh6hRANCAATndpBigGEKUM0g5l3Y0x7Y0YFdkEY0b4ZTotFblBTjZlD5xyogQ7Ko9ljwpZVSz+Ost/EpoIT8SdyEqw3cqDnm";

/// The configurations fuzzed; the first byte of an input picks one.
pub const CONFIGS: [&str; 5] = [
    "{ type: api-key, header: x-api-key, keys: [one, two] }",
    "{ type: hmac-sha256, header: x-signature, prefix: 'sha256=', encoding: hex, secrets: [h1, h2] }",
    "{ type: hmac-sha256, header: typeform-signature, prefix: 'sha256=', encoding: base64, secrets: [h1, h2] }",
    "{ type: standard-webhooks, secrets: [w1, w2] }",
    "{ type: jwt, jwks_file: jwks.json, issuer: 'https://issuer.test', audience: [leads], algorithms: [ES256] }",
];

fn checks() -> &'static [Box<dyn InboundCheck>] {
    static CHECKS: OnceLock<Vec<Box<dyn InboundCheck>>> = OnceLock::new();
    CHECKS.get_or_init(|| CONFIGS.iter().map(|config| check_for(config)).collect())
}

fn check_for(config: &str) -> Box<dyn InboundCheck> {
    let config: AuthConfig = serde_norway::from_str(config).expect("a fuzz configuration parses");
    let whsec = |key: &[u8]| format!("whsec_{}", STANDARD.encode(key));
    let mut secret = |name: &str, kind| {
        let raw = match name {
            "one" => API_KEYS[0].to_owned(),
            "two" => API_KEYS[1].to_owned(),
            "h1" => HMAC_SECRETS[0].to_owned(),
            "h2" => HMAC_SECRETS[1].to_owned(),
            "w1" => whsec(&WHSEC_KEYS[0]),
            "w2" => whsec(&WHSEC_KEYS[1]),
            _ => return Err(format!("secret `{name}` is not set")),
        };
        material::decode(kind, raw.into_bytes()).map_err(|e| format!("`{name}` {e}"))
    };
    let jwks = jwks();
    build(&config, &mut secret, &|path: &Path| {
        (path == Path::new("jwks.json"))
            .then(|| jwks.clone().into_bytes())
            .ok_or_else(|| format!("no file `{}`", path.display()))
    })
    .expect("a fuzz check builds")
}

fn jwt_key() -> rcgen::KeyPair {
    let der = STANDARD.decode(JWT_KEY_PKCS8).expect("the key is base64");
    rcgen::KeyPair::try_from(der.as_slice()).expect("the key is PKCS #8")
}

fn jwks() -> String {
    let point = jwt_key().public_key_raw().to_vec();
    serde_json::json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "fuzz", "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    }]})
    .to_string()
}

/// An input: the scheme, then header lines `name: value`, an empty line,
/// and the body.
pub fn input(scheme: u8, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = vec![scheme];
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\n").as_bytes());
    }
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}

/// Valid requests for each scheme (signed with either key), the seeds of
/// the corpus.
pub fn seeds() -> Vec<Vec<u8>> {
    let body = br#"{"email":"ada@example.com","first_name":"Ada"}"#;
    let hmac = |key: &[u8], parts: &[&[u8]]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let mut seeds = Vec::new();
    for i in 0..2 {
        seeds.push(input(0, &[("x-api-key", API_KEYS[i])], b""));
        let mac = hmac(HMAC_SECRETS[i].as_bytes(), &[body]);
        let signature = format!("sha256={}", hex(&mac));
        seeds.push(input(1, &[("x-signature", &signature)], body));
        let signature = format!("sha256={}", STANDARD.encode(&mac));
        seeds.push(input(2, &[("typeform-signature", &signature)], body));
        let timestamp = NOW.to_string();
        let mac = hmac(
            &WHSEC_KEYS[i],
            &[b"msg_1.", timestamp.as_bytes(), b".", body],
        );
        let signature = format!("v1,{}", STANDARD.encode(&mac));
        seeds.push(input(
            3,
            &[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", &timestamp),
                ("webhook-signature", &signature),
            ],
            body,
        ));
    }
    let key = jsonwebtoken::EncodingKey::from_ec_der(&STANDARD.decode(JWT_KEY_PKCS8).unwrap());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("fuzz".into());
    let claims = serde_json::json!({"iss": "https://issuer.test", "aud": "leads", "exp": NOW + 3600, "sub": "form"});
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("the token signs");
    seeds.push(input(
        4,
        &[("authorization", &format!("Bearer {token}"))],
        b"",
    ));
    seeds
}

/// Splits an input into the scheme, headers and body.
fn parse(data: &[u8]) -> Option<(usize, HeaderMap, &[u8])> {
    let (&scheme, rest) = data.split_first()?;
    let split = rest.windows(2).position(|w| w == b"\n\n");
    let (head, body) = match split {
        Some(at) => (&rest[..at + 1], &rest[at + 2..]),
        None => (rest, &b""[..]),
    };
    let mut headers = HeaderMap::new();
    for line in head.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        // Lines a server would not accept as a header are left out.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    Some((usize::from(scheme) % CONFIGS.len(), headers, body))
}

/// Whether the check an input picks accepts it.
pub fn accepts(data: &[u8]) -> bool {
    parse(data).is_some_and(|(scheme, headers, body)| {
        checks()[scheme]
            .verify(&Inbound {
                method: &Method::POST,
                headers: &headers,
                body,
                now: NOW,
            })
            .is_ok()
    })
}

/// One input.
pub fn check(data: &[u8]) {
    let Some((scheme, headers, body)) = parse(data) else {
        return;
    };
    let check = &checks()[scheme];
    let request = |body| Inbound {
        method: &Method::POST,
        headers: &headers,
        body,
        now: NOW,
    };
    let answer = |body| match check.verify(&request(body)) {
        Ok(verified) => Ok(verified.replay),
        Err(denied) => Err(denied),
    };
    let first = answer(body);
    assert_eq!(first, answer(body), "the same request answered differently");
    if !check.needs_body() {
        assert_eq!(first, answer(b""), "a check that needs no body read it");
    }
}
