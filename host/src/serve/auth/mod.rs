//! Inbound checks: who is sending this webhook?
//!
//! Each scheme is one file behind [`InboundCheck`] (what a loaded check
//! does) and [`Scheme`] (what its configuration does: check itself when the
//! configuration is read, build the check from secrets and files when a
//! route loads). [`AuthConfig`] is the registry: a new scheme is a new file
//! and a line there.
//!
//! Every comparison of a key or signature runs in constant time (`subtle`),
//! over every configured key, so neither the position of a wrong byte nor
//! which key matched shows in the timing. Several keys per route let a key
//! be rotated without downtime. Failures are counted per client address
//! ([`Throttle`]); a message id seen before is refused ([`ReplayCache`]).

mod api_key;
mod hmac_sha256;
mod jwt;
mod replay;
mod standard_webhooks;
mod throttle;

use std::path::Path;
use std::time::Duration;

use hmac::{Hmac, Mac};
use hyper::header::HeaderName;
use hyper::{HeaderMap, Method};
use serde::Deserialize;
use sha2::Sha256;

use crate::secrets::ReadSecret;

pub use api_key::ApiKeyConfig;
pub use hmac_sha256::{HmacConfig, SignatureEncoding};
pub use jwt::{JWT_ALGORITHMS, JwtConfig, MIN_RSA_BITS};
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache, Taken};
pub use standard_webhooks::StandardWebhooksConfig;
pub use throttle::Throttle;

/// A route's inbound check, as configured: `type` names the scheme.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum AuthConfig {
    /// A shared key in a header.
    ApiKey(ApiKeyConfig),
    /// An HMAC-SHA256 signature of the raw body in a header (GitHub,
    /// Shopify, Typeform and most other senders).
    HmacSha256(HmacConfig),
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`.
    StandardWebhooks(StandardWebhooksConfig),
    /// An OAuth 2.0 bearer token (a JWT) checked against a JWKS file.
    Jwt(JwtConfig),
}

impl AuthConfig {
    /// The scheme behind the configuration.
    pub fn scheme(&self) -> &dyn Scheme {
        match self {
            AuthConfig::ApiKey(config) => config,
            AuthConfig::HmacSha256(config) => config,
            AuthConfig::StandardWebhooks(config) => config,
            AuthConfig::Jwt(config) => config,
        }
    }
}

/// Reads a file the configuration names (relative to the configuration
/// file); the error names the file.
pub type ReadFile<'a> = dyn Fn(&Path) -> Result<Vec<u8>, String> + 'a;

/// What a scheme's configuration does.
pub trait Scheme {
    /// Checks the configuration when it is read; the error is the key
    /// under `key` (e.g. `routes[0].auth`) and what to do.
    fn check(&self, key: &str) -> Result<(), (String, String)>;

    /// Loads the check: its keys from secrets (each decoded for its use),
    /// its files. Errors name the secret or the file, never a value.
    fn build(
        &self,
        secret: &mut ReadSecret<'_>,
        file: &ReadFile<'_>,
    ) -> Result<Box<dyn InboundCheck>, String>;
}

/// A loaded inbound check.
pub trait InboundCheck: Send + Sync {
    /// Whether the check needs the body (signatures do; keys and tokens do
    /// not, so they are checked before the body is read).
    fn needs_body(&self) -> bool;

    /// Checks a request.
    fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Denied>;
}

/// What a check sees of a request.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The method.
    pub method: &'a Method,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The raw body (empty when the check does not need it).
    pub body: &'a [u8],
    /// The Unix time in seconds.
    pub now: u64,
}

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
    /// A message id was seen before.
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
    /// A message id to refuse if it comes again, and how long it must be
    /// remembered (after that its timestamp is outside the window anyway).
    pub replay: Option<(String, Duration)>,
}

/// Loads a route's check from its configuration.
pub fn build(
    config: &AuthConfig,
    secret: &mut ReadSecret<'_>,
    file: &ReadFile<'_>,
) -> Result<Box<dyn InboundCheck>, String> {
    config.scheme().build(secret, file)
}

pub(crate) fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("`{name}` is not a header name"))
}

/// Checks a configured header name, for [`Scheme::check`].
pub(crate) fn check_header_name(key: &str, name: &str) -> Result<(), (String, String)> {
    HeaderName::from_bytes(name.as_bytes())
        .map(|_| ())
        .map_err(|_| (key.into(), format!("`{name}` is not a valid header name")))
}

/// The one value of a header, as text.
pub(crate) fn header_text<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<&'h str, Denied> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(Denied::Missing)?;
    if values.next().is_some() {
        return Err(Denied::Invalid);
    }
    value.to_str().map_err(|_| Denied::Invalid)
}

/// HMAC-SHA256 of the parts, one after another, under `key`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Lower- or upper-case hexadecimal.
pub(crate) fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8))
        .collect()
}

/// Checks a list of secret names, for [`Scheme::check`].
pub(crate) fn check_secret_names(key: &str, names: &[String]) -> Result<(), (String, String)> {
    if names.is_empty() {
        return Err((key.into(), "name at least one secret".into()));
    }
    for (i, name) in names.iter().enumerate() {
        if !crate::secrets::is_secret_name(name) {
            return Err((
                format!("{key}[{i}]"),
                "a secret name is letters, digits, `-` and `_` (the value comes from the environment or a file)".into(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    /// From mutation testing: each scheme checks its own configuration
    /// (the error names the key under `auth`), says whether it needs the
    /// body, and labels its refusals as documented.
    #[test]
    fn each_scheme_checks_its_configuration_and_says_what_it_needs() {
        let refused = [
            (
                "{ type: api-key, keys: [] }",
                "auth.keys: name at least one secret",
            ),
            (
                "{ type: api-key, header: 'x y', keys: [k] }",
                "auth.header: `x y` is not a valid header name",
            ),
            (
                "{ type: api-key, keys: [k, 'k=v'] }",
                "auth.keys[1]: a secret name is",
            ),
            (
                "{ type: hmac-sha256, header: 'x y', encoding: hex, secrets: [k] }",
                "auth.header: `x y` is not a valid header name",
            ),
            (
                "{ type: hmac-sha256, header: X-Sig, encoding: hex, secrets: [] }",
                "auth.secrets: name at least one secret",
            ),
            (
                "{ type: standard-webhooks, secrets: [] }",
                "auth.secrets: name at least one secret",
            ),
            (
                "{ type: standard-webhooks, secrets: [k], tolerance_seconds: 0 }",
                "auth.tolerance_seconds: ",
            ),
            (
                "{ type: jwt, jwks_file: j.json, issuer: '', audience: [a] }",
                "auth.issuer: must not be empty",
            ),
            (
                "{ type: jwt, jwks_file: j.json, issuer: i, audience: [] }",
                "auth.audience: name at least one audience",
            ),
            (
                "{ type: jwt, jwks_file: j.json, issuer: i, audience: [a], algorithms: [] }",
                "auth.algorithms: name at least one algorithm",
            ),
            (
                "{ type: jwt, jwks_file: j.json, issuer: i, audience: [a], algorithms: [ES256, HS256] }",
                "auth.algorithms[1]: `HS256` is not one of RS256,",
            ),
        ];
        for (config, expected) in refused {
            match build_with(config, &[]) {
                Ok(_) => panic!("{config} was accepted"),
                Err(error) => assert!(error.starts_with(expected), "{config}: {error}"),
            }
        }

        let key: &[u8] = b"a-key-of-thirty-two-bytes-000000";
        let whsec = b"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        for (config, needs_body) in [
            ("{ type: api-key, keys: [k] }", false),
            (
                "{ type: hmac-sha256, header: X-Sig, encoding: hex, secrets: [k] }",
                true,
            ),
            ("{ type: standard-webhooks, secrets: [w] }", true),
        ] {
            let check = build_with(config, &[("k", key), ("w", whsec)]).unwrap();
            assert_eq!(check.needs_body(), needs_body, "{config}");
        }

        let labels = [
            Denied::Missing,
            Denied::Invalid,
            Denied::Expired,
            Denied::Replayed,
        ]
        .map(Denied::reason);
        assert_eq!(labels, ["missing", "invalid", "expired", "replayed"]);
    }

    /// A request with these headers and body at `now`.
    pub(crate) fn verify(
        check: &dyn InboundCheck,
        headers: &HeaderMap,
        body: &[u8],
        now: u64,
    ) -> Result<Verified, Denied> {
        check.verify(&Inbound {
            method: &Method::POST,
            headers,
            body,
            now,
        })
    }

    /// Builds a check with these secret values.
    pub(crate) fn build_with(
        config: &str,
        secrets: &[(&str, &[u8])],
    ) -> Result<Box<dyn InboundCheck>, String> {
        build_with_files(config, secrets, &[])
    }

    /// Builds a check with these secret values and files.
    pub(crate) fn build_with_files(
        config: &str,
        secrets: &[(&str, &[u8])],
        files: &[(&str, &[u8])],
    ) -> Result<Box<dyn InboundCheck>, String> {
        let config: AuthConfig = serde_norway::from_str(config).map_err(|e| e.to_string())?;
        config
            .scheme()
            .check("auth")
            .map_err(|(k, m)| format!("{k}: {m}"))?;
        let mut secret = |name: &str, kind| {
            let raw = secrets
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_vec())
                .ok_or_else(|| format!("secret `{name}` is not set"))?;
            crate::secrets::material::decode(kind, raw).map_err(|e| format!("`{name}` {e}"))
        };
        build(&config, &mut secret, &|p| {
            files
                .iter()
                .find(|(name, _)| Path::new(name) == p)
                .map(|(_, bytes)| bytes.to_vec())
                .ok_or_else(|| format!("no file `{}`", p.display()))
        })
    }
}
