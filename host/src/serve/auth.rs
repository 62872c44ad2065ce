//! Inbound checks: who is sending this webhook?
//!
//! Every comparison of a key or signature runs in constant time (`subtle`),
//! over every configured key, so neither the position of a wrong byte nor
//! which key matched shows in the timing. Several keys per route let a key
//! be rotated without downtime. Failures are counted per client address;
//! a client over the limit is throttled (429) until its window ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use hyper::HeaderMap;
use hyper::header::{AUTHORIZATION, HeaderName};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::config::{AuthConfig, SignatureEncoding};
use crate::secrets::{Kind, ReadSecret};

/// JWT algorithms a route may accept: public-key ones only, so a JWKS can
/// never turn into a shared secret.
pub const JWT_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// Why a request was not authenticated. The reason is a metric label and a
/// log field; the sender only learns "unauthenticated".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The credential header is missing.
    Missing,
    /// The credential is malformed or does not match.
    Invalid,
    /// A signed timestamp is outside the window, or a token has expired.
    Expired,
    /// A Standard Webhooks id was seen before.
    Replayed,
}

impl Denied {
    /// The label in metrics and logs.
    pub fn reason(self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::Invalid => "invalid",
            Denied::Expired => "expired",
            Denied::Replayed => "replayed",
        }
    }
}

/// What a successful check learnt.
#[derive(Debug, Default)]
pub struct Verified {
    /// The Standard Webhooks message id, for replay protection.
    pub webhook_id: Option<String>,
}

/// A route's inbound check, with its keys loaded.
pub enum Check {
    /// A key in a header; the SHA-256 of each accepted key is kept, so
    /// comparisons are of fixed length.
    ApiKey {
        /// The header.
        header: HeaderName,
        /// Text before the key.
        prefix: String,
        /// SHA-256 of every accepted key.
        keys: Vec<[u8; 32]>,
    },
    /// HMAC-SHA256 of the raw body.
    Hmac {
        /// The header.
        header: HeaderName,
        /// Text before the signature.
        prefix: String,
        /// How the signature is written.
        encoding: SignatureEncoding,
        /// Every accepted signing key.
        keys: Vec<Vec<u8>>,
    },
    /// Standard Webhooks.
    StandardWebhooks {
        /// Every accepted signing key (decoded from `whsec_...`).
        keys: Vec<Vec<u8>>,
        /// The timestamp window, in seconds either way.
        tolerance: u64,
    },
    /// A JWT bearer token.
    Jwt(Box<JwtCheck>),
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys.
        f.write_str(match self {
            Check::ApiKey { .. } => "Check::ApiKey",
            Check::Hmac { .. } => "Check::Hmac",
            Check::StandardWebhooks { .. } => "Check::StandardWebhooks",
            Check::Jwt(_) => "Check::Jwt",
        })
    }
}

/// The keys and rules of a JWT check.
#[derive(Debug)]
pub struct JwtCheck {
    keys: Vec<JwtKey>,
    validation: Validation,
}

#[derive(Debug)]
struct JwtKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

type HmacSha256 = Hmac<Sha256>;

impl Check {
    /// Loads a check: `secret` reads a named secret, `read_file` a file
    /// named in the configuration. Errors name the secret or the file,
    /// never a value.
    pub fn build(
        config: &AuthConfig,
        secret: &mut ReadSecret<'_>,
        read_file: &dyn Fn(&std::path::Path) -> Result<Vec<u8>, String>,
    ) -> Result<Check, String> {
        Ok(match config {
            AuthConfig::ApiKey {
                header,
                prefix,
                keys,
            } => Check::ApiKey {
                header: header_name(header)?,
                prefix: prefix.clone(),
                keys: keys
                    .iter()
                    .map(|name| secret(name, Kind::ApiKey).map(|key| Sha256::digest(&key).into()))
                    .collect::<Result<_, _>>()?,
            },
            AuthConfig::HmacSha256 {
                header,
                prefix,
                encoding,
                secrets,
            } => Check::Hmac {
                header: header_name(header)?,
                prefix: prefix.clone(),
                encoding: *encoding,
                keys: secrets
                    .iter()
                    .map(|name| secret(name, Kind::HmacKey))
                    .collect::<Result<_, _>>()?,
            },
            AuthConfig::StandardWebhooks {
                secrets,
                tolerance_seconds,
            } => Check::StandardWebhooks {
                keys: secrets
                    .iter()
                    .map(|name| secret(name, Kind::StandardWebhooks))
                    .collect::<Result<_, _>>()?,
                tolerance: *tolerance_seconds,
            },
            AuthConfig::Jwt {
                jwks_file,
                issuer,
                audience,
                algorithms,
                leeway_seconds,
            } => {
                let bytes = read_file(jwks_file)?;
                let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| {
                    format!("`{}` is not a JSON Web Key Set: {e}", jwks_file.display())
                })?;
                let mut keys = Vec::new();
                for (i, jwk) in set.keys.iter().enumerate() {
                    check_jwk(jwk).map_err(|problem| {
                        format!("`{}`: key {i} {problem}", jwks_file.display())
                    })?;
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                        format!("`{}`: key {i} is not usable: {e}", jwks_file.display())
                    })?;
                    let alg = jwk
                        .common
                        .key_algorithm
                        .and_then(|a| a.to_string().parse::<Algorithm>().ok());
                    keys.push(JwtKey {
                        kid: jwk.common.key_id.clone(),
                        alg,
                        key,
                    });
                }
                if keys.is_empty() {
                    return Err(format!("`{}` holds no keys", jwks_file.display()));
                }
                let algorithms = algorithms
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>()
                            .map_err(|_| format!("unknown JWT algorithm `{a}`"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut validation = Validation::new(algorithms[0]);
                validation.algorithms = algorithms;
                validation.set_issuer(&[issuer]);
                validation.set_audience(audience);
                validation.set_required_spec_claims(&["exp", "iss", "aud"]);
                validation.leeway = *leeway_seconds;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                Check::Jwt(Box::new(JwtCheck { keys, validation }))
            }
        })
    }

    /// Whether the check needs the body (signatures do; keys and tokens do
    /// not, so they are checked before the body is read).
    pub fn needs_body(&self) -> bool {
        matches!(self, Check::Hmac { .. } | Check::StandardWebhooks { .. })
    }

    /// Checks a request. `now` is the Unix time in seconds.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: u64) -> Result<Verified, Denied> {
        match self {
            Check::ApiKey {
                header,
                prefix,
                keys,
            } => {
                let value = header_text(headers, header)?;
                let key = value.strip_prefix(prefix.as_str()).ok_or(Denied::Invalid)?;
                let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
                let mut matched = Choice::from(0);
                for accepted in keys {
                    matched |= accepted.ct_eq(&digest);
                }
                if bool::from(matched) {
                    Ok(Verified::default())
                } else {
                    Err(Denied::Invalid)
                }
            }
            Check::Hmac {
                header,
                prefix,
                encoding,
                keys,
            } => {
                let value = header_text(headers, header)?;
                let signature = value
                    .trim()
                    .strip_prefix(prefix.as_str())
                    .ok_or(Denied::Invalid)?;
                let provided = match encoding {
                    SignatureEncoding::Hex => decode_hex(signature),
                    SignatureEncoding::Base64 => BASE64.decode(signature).ok(),
                }
                .ok_or(Denied::Invalid)?;
                let mut matched = Choice::from(0);
                for key in keys {
                    matched |= hmac(key, &[body]).ct_eq(&provided);
                }
                if bool::from(matched) {
                    Ok(Verified::default())
                } else {
                    Err(Denied::Invalid)
                }
            }
            Check::StandardWebhooks { keys, tolerance } => {
                let id = header_text(headers, &HeaderName::from_static("webhook-id"))?;
                let timestamp =
                    header_text(headers, &HeaderName::from_static("webhook-timestamp"))?;
                let signatures =
                    header_text(headers, &HeaderName::from_static("webhook-signature"))?;
                if id.is_empty() || id.len() > 256 {
                    return Err(Denied::Invalid);
                }
                let sent: u64 = timestamp.trim().parse().map_err(|_| Denied::Invalid)?;
                let mut matched = Choice::from(0);
                for signature in signatures.split(' ') {
                    let Some(encoded) = signature.strip_prefix("v1,") else {
                        continue;
                    };
                    let Ok(provided) = BASE64.decode(encoded) else {
                        continue;
                    };
                    for key in keys {
                        let expected = hmac(
                            key,
                            &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
                        );
                        matched |= expected.ct_eq(&provided);
                    }
                }
                if !bool::from(matched) {
                    return Err(Denied::Invalid);
                }
                if sent.abs_diff(now) > *tolerance {
                    return Err(Denied::Expired);
                }
                Ok(Verified {
                    webhook_id: Some(id.to_owned()),
                })
            }
            Check::Jwt(check) => check.verify(headers),
        }
    }
}

impl JwtCheck {
    fn verify(&self, headers: &HeaderMap) -> Result<Verified, Denied> {
        let value = header_text(headers, &AUTHORIZATION)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(Denied::Invalid)?
            .trim();
        let header = jsonwebtoken::decode_header(token).map_err(|_| Denied::Invalid)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(Denied::Invalid);
        }
        // jsonwebtoken wants every algorithm of a validation in the family
        // of the key; the header's algorithm is one of the accepted ones.
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let candidates = self
            .keys
            .iter()
            .filter(|k| header.kid.is_none() || k.kid.is_none() || k.kid == header.kid);
        let mut expired = false;
        for candidate in candidates {
            if candidate.alg.is_some_and(|alg| alg != header.alg) {
                continue;
            }
            match jsonwebtoken::decode::<serde_json::Value>(token, &candidate.key, &validation) {
                Ok(_) => return Ok(Verified::default()),
                Err(e) => {
                    if matches!(
                        e.kind(),
                        jsonwebtoken::errors::ErrorKind::ExpiredSignature
                            | jsonwebtoken::errors::ErrorKind::ImmatureSignature
                    ) {
                        expired = true;
                    }
                }
            }
        }
        Err(if expired {
            Denied::Expired
        } else {
            Denied::Invalid
        })
    }
}

/// The fewest bits of an RSA modulus accepted in a JWKS.
pub const MIN_RSA_BITS: usize = 2048;

/// Refuses a key that a JWKS must not hold: a shared secret (`kty: oct`),
/// a key meant for encryption, or an RSA modulus under [`MIN_RSA_BITS`]
/// (or not strict unpadded base64url).
fn check_jwk(jwk: &jsonwebtoken::jwk::Jwk) -> Result<(), String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::jwk::{AlgorithmParameters, PublicKeyUse};
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Err("is meant for encryption (`use: enc`), not for signatures".into());
    }
    match &jwk.algorithm {
        AlgorithmParameters::OctetKey(_) => {
            Err("is a shared secret (`kty: oct`): a JWKS for a route holds public keys only".into())
        }
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD
                .decode(&rsa.n)
                .map_err(|_| "has a modulus `n` that is not unpadded base64url".to_string())?;
            let leading_zeros = modulus.iter().take_while(|b| **b == 0).count();
            let bits = (modulus.len() - leading_zeros) * 8;
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "is an RSA key of about {bits} bits; at least {MIN_RSA_BITS} are needed"
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}

/// The one value of a header, as text.
fn header_text<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, Denied> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(Denied::Missing)?;
    if values.next().is_some() {
        return Err(Denied::Invalid);
    }
    value.to_str().map_err(|_| Denied::Invalid)
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// Standard Webhooks ids seen recently, so a replayed message is refused.
///
/// An id is taken when its request starts (a concurrent duplicate is
/// refused), kept when the lead was delivered or refused for good (2xx,
/// 422), and released when the answer asks the sender to retry (5xx), so the
/// retry, which carries the same id, is accepted.
#[derive(Debug)]
pub struct ReplayCache {
    seen: Mutex<HashMap<String, Instant>>,
    ttl: Duration,
}

/// Ids remembered at most; over it the oldest expired ones go first, and a
/// full cache refuses (fails closed).
const REPLAY_CAPACITY: usize = 100_000;

impl ReplayCache {
    /// Ids are kept for `ttl` (twice the timestamp window: after it a replay
    /// fails the timestamp check anyway).
    pub fn new(ttl: Duration) -> ReplayCache {
        ReplayCache {
            seen: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Takes an id; `false` if it was seen (or the cache is full).
    pub fn take(&self, id: &str) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let now = Instant::now();
        if let Some(until) = seen.get(id)
            && *until > now
        {
            return false;
        }
        if seen.len() >= REPLAY_CAPACITY {
            seen.retain(|_, until| *until > now);
            if seen.len() >= REPLAY_CAPACITY {
                return false;
            }
        }
        seen.insert(id.to_owned(), now + self.ttl);
        true
    }

    /// Releases an id whose request asked for a retry.
    pub fn release(&self, id: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.remove(id);
        }
    }
}

/// Authentication failures per client address.
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    /// At most `max_failures` per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures,
            window,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when the client is throttled.
    pub fn blocked(&self, client: IpAddr) -> Option<u64> {
        let clients = self.clients.lock().ok()?;
        let (start, failures) = clients.get(&client)?;
        let elapsed = start.elapsed();
        if *failures >= self.max_failures && elapsed < self.window {
            Some((self.window - elapsed).as_secs().max(1))
        } else {
            None
        }
    }

    /// Counts a failure.
    pub fn failed(&self, client: IpAddr) {
        let Ok(mut clients) = self.clients.lock() else {
            return;
        };
        let now = Instant::now();
        if clients.len() > 10_000 {
            let window = self.window;
            clients.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = clients.entry(client).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn api_keys_match_any_configured_key() {
        let check = Check::ApiKey {
            header: HeaderName::from_static("x-api-key"),
            prefix: String::new(),
            keys: vec![Sha256::digest(b"old").into(), Sha256::digest(b"new").into()],
        };
        assert!(
            check
                .verify(&headers(&[("x-api-key", "new")]), b"", 0)
                .is_ok()
        );
        assert!(
            check
                .verify(&headers(&[("x-api-key", "old")]), b"", 0)
                .is_ok()
        );
        assert_eq!(
            check
                .verify(&headers(&[("x-api-key", "nope")]), b"", 0)
                .unwrap_err(),
            Denied::Invalid
        );
        assert_eq!(
            check.verify(&headers(&[]), b"", 0).unwrap_err(),
            Denied::Missing
        );
    }

    #[test]
    fn hmac_signatures_in_hex_and_base64() {
        let mac = hmac(b"k", &[b"body"]);
        let hex: String = mac.iter().map(|b| format!("{b:02X}")).collect();
        let check = Check::Hmac {
            header: HeaderName::from_static("x-hub-signature-256"),
            prefix: "sha256=".into(),
            encoding: SignatureEncoding::Hex,
            keys: vec![b"k".to_vec()],
        };
        let good = format!("sha256={hex}");
        assert!(
            check
                .verify(&headers(&[("x-hub-signature-256", &good)]), b"body", 0)
                .is_ok()
        );
        assert!(
            check
                .verify(&headers(&[("x-hub-signature-256", &good)]), b"bodY", 0)
                .is_err()
        );
        assert!(
            check
                .verify(&headers(&[("x-hub-signature-256", &hex)]), b"body", 0)
                .is_err()
        );
        let check = Check::Hmac {
            header: HeaderName::from_static("x-shopify-hmac-sha256"),
            prefix: String::new(),
            encoding: SignatureEncoding::Base64,
            keys: vec![b"k".to_vec()],
        };
        let b64 = BASE64.encode(mac);
        assert!(
            check
                .verify(&headers(&[("x-shopify-hmac-sha256", &b64)]), b"body", 0)
                .is_ok()
        );
    }

    #[test]
    fn standard_webhooks_signatures_and_window() {
        let key = b"0123456789abcdef".to_vec();
        let check = Check::StandardWebhooks {
            keys: vec![key.clone()],
            tolerance: 300,
        };
        let sig = BASE64.encode(hmac(&key, &[b"msg_1.1000.", b"{}"]));
        let both = format!("v1,AAAA v1,{sig}");
        let h = headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1000"),
            ("webhook-signature", &both),
        ]);
        assert_eq!(
            check.verify(&h, b"{}", 1200).unwrap().webhook_id.as_deref(),
            Some("msg_1")
        );
        assert_eq!(check.verify(&h, b"{}", 1301).unwrap_err(), Denied::Expired);
        assert_eq!(check.verify(&h, b"{ }", 1000).unwrap_err(), Denied::Invalid);
    }

    #[test]
    fn replayed_ids_are_refused_until_released() {
        let cache = ReplayCache::new(Duration::from_secs(600));
        assert!(cache.take("a"));
        assert!(!cache.take("a"));
        cache.release("a");
        assert!(cache.take("a"));
    }

    #[test]
    fn throttling_after_too_many_failures() {
        let throttle = Throttle::new(2, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(throttle.blocked(ip).is_none());
        throttle.failed(ip);
        assert!(throttle.blocked(ip).is_none());
        throttle.failed(ip);
        assert!(throttle.blocked(ip).is_some());
    }
}
