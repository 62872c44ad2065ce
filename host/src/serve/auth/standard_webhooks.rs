//! `standard-webhooks`: [Standard Webhooks](https://www.standardwebhooks.com/)
//! signatures, `v1,<base64>` HMAC-SHA256 over `id.timestamp.body`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::header::HeaderName;
use serde::Deserialize;
use subtle::{Choice, ConstantTimeEq};

use super::{
    Denied, Inbound, InboundCheck, ReadFile, Scheme, Verified, check_secret_names, header_text,
    hmac,
};
use crate::secrets::{Kind, ReadSecret};

/// `type: standard-webhooks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StandardWebhooksConfig {
    /// Names of the secrets holding the signing keys (`whsec_...`).
    pub secrets: Vec<String>,
    /// How far the timestamp may be from now, in seconds.
    #[serde(default = "default_tolerance")]
    pub tolerance_seconds: u64,
}

fn default_tolerance() -> u64 {
    300
}

/// The longest `webhook-id` accepted.
const MAX_ID: usize = 256;

impl Scheme for StandardWebhooksConfig {
    fn check(&self, key: &str) -> Result<(), (String, String)> {
        check_secret_names(&format!("{key}.secrets"), &self.secrets)?;
        if self.tolerance_seconds == 0 {
            return Err((
                format!("{key}.tolerance_seconds"),
                "must be greater than 0".into(),
            ));
        }
        Ok(())
    }

    fn build(
        &self,
        secret: &mut ReadSecret<'_>,
        _file: &ReadFile<'_>,
    ) -> Result<Box<dyn InboundCheck>, String> {
        Ok(Box::new(StandardWebhooks {
            keys: self
                .secrets
                .iter()
                .map(|name| secret(name, Kind::StandardWebhooks))
                .collect::<Result<_, _>>()?,
            tolerance: self.tolerance_seconds,
        }))
    }
}

struct StandardWebhooks {
    /// Every accepted signing key, decoded from `whsec_...`.
    keys: Vec<Vec<u8>>,
    /// The timestamp window, in seconds either way.
    tolerance: u64,
}

impl InboundCheck for StandardWebhooks {
    fn needs_body(&self) -> bool {
        true
    }

    fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Denied> {
        let headers = request.headers;
        let id = header_text(headers, &HeaderName::from_static("webhook-id"))?;
        let timestamp = header_text(headers, &HeaderName::from_static("webhook-timestamp"))?;
        let signatures = header_text(headers, &HeaderName::from_static("webhook-signature"))?;
        if id.is_empty() || id.len() > MAX_ID {
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
            for key in &self.keys {
                let expected = hmac(
                    key,
                    &[
                        id.as_bytes(),
                        b".",
                        timestamp.as_bytes(),
                        b".",
                        request.body,
                    ],
                );
                matched |= expected.ct_eq(&provided);
            }
        }
        if !bool::from(matched) {
            return Err(Denied::Invalid);
        }
        if sent.abs_diff(request.now) > self.tolerance {
            return Err(Denied::Expired);
        }
        Ok(Verified {
            // After twice the window a replay fails the timestamp check.
            replay: Some((
                id.to_owned(),
                Duration::from_secs(self.tolerance.saturating_mul(2)),
            )),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_with, headers, verify};
    use super::*;

    fn whsec(key: &[u8]) -> Vec<u8> {
        format!("whsec_{}", BASE64.encode(key)).into_bytes()
    }

    fn signed(key: &[u8], extra: &str) -> String {
        let sig = BASE64.encode(hmac(key, &[b"msg_1.1000.", b"{}"]));
        format!("{extra}v1,{sig}")
    }

    #[test]
    fn standard_webhooks_signatures_and_window() {
        let key = [7u8; 24];
        let check = build_with(
            "{ type: standard-webhooks, secrets: [k] }",
            &[("k", &whsec(&key))],
        )
        .unwrap();
        let both = signed(&key, "v1,AAAA ");
        let h = headers(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", "1000"),
            ("webhook-signature", &both),
        ]);
        let verified = verify(&*check, &h, b"{}", 1200).unwrap();
        assert_eq!(
            verified.replay,
            Some(("msg_1".to_owned(), Duration::from_secs(600)))
        );
        assert_eq!(
            verify(&*check, &h, b"{}", 1301).unwrap_err(),
            Denied::Expired
        );
        assert_eq!(
            verify(&*check, &h, b"{ }", 1000).unwrap_err(),
            Denied::Invalid
        );
    }

    /// From mutation testing: the ends of the timestamp window and of the
    /// id's length.
    #[test]
    fn the_window_and_the_id_length_hold_at_their_ends() {
        let key = [7u8; 24];
        let check = build_with(
            "{ type: standard-webhooks, secrets: [k], tolerance_seconds: 300 }",
            &[("k", &whsec(&key))],
        )
        .unwrap();
        let request = |id: &str| {
            let signature = BASE64.encode(hmac(&key, &[id.as_bytes(), b".1000.", b"{}"]));
            headers(&[
                ("webhook-id", id),
                ("webhook-timestamp", "1000"),
                ("webhook-signature", &format!("v1,{signature}")),
            ])
        };
        let h = request("msg_1");
        assert!(verify(&*check, &h, b"{}", 1300).is_ok());
        assert!(verify(&*check, &h, b"{}", 700).is_ok());
        assert_eq!(
            verify(&*check, &h, b"{}", 699).unwrap_err(),
            Denied::Expired
        );
        let longest = "i".repeat(MAX_ID);
        assert!(verify(&*check, &request(&longest), b"{}", 1000).is_ok());
        let too_long = "i".repeat(MAX_ID + 1);
        assert_eq!(
            verify(&*check, &request(&too_long), b"{}", 1000).unwrap_err(),
            Denied::Invalid
        );
        assert_eq!(
            verify(&*check, &request(""), b"{}", 1000).unwrap_err(),
            Denied::Invalid
        );
    }

    /// Rotation (hardening, item 14): a message signed with any configured
    /// secret verifies; once removed, the old one does not.
    #[test]
    fn a_signature_by_any_configured_secret_verifies() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let both = build_with(
            "{ type: standard-webhooks, secrets: [old, new] }",
            &[("old", &whsec(&old)), ("new", &whsec(&new))],
        )
        .unwrap();
        let only_new = build_with(
            "{ type: standard-webhooks, secrets: [new] }",
            &[("new", &whsec(&new))],
        )
        .unwrap();
        let request = |key: &[u8]| {
            let signature = signed(key, "");
            headers(&[
                ("webhook-id", "msg_1"),
                ("webhook-timestamp", "1000"),
                ("webhook-signature", signature.as_str()),
            ])
        };
        assert!(verify(&*both, &request(&new), b"{}", 1000).is_ok());
        assert!(verify(&*both, &request(&old), b"{}", 1000).is_ok());
        assert!(verify(&*only_new, &request(&new), b"{}", 1000).is_ok());
        assert_eq!(
            verify(&*only_new, &request(&old), b"{}", 1000).unwrap_err(),
            Denied::Invalid
        );
    }
}
