//! `api-key`: a shared key in a header.

use hyper::header::HeaderName;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::{
    Denied, Inbound, InboundCheck, ReadFile, Scheme, Verified, check_header_name,
    check_secret_names, header_name, header_text,
};
use crate::secrets::{Kind, ReadSecret};

/// `type: api-key`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The header (default `X-Api-Key`).
    #[serde(default = "default_header")]
    pub header: String,
    /// Text before the key in the header, e.g. `"Bearer "`.
    #[serde(default)]
    pub prefix: String,
    /// Names of the secrets holding the accepted keys (several, for
    /// rotation).
    pub keys: Vec<String>,
}

fn default_header() -> String {
    "X-Api-Key".into()
}

impl Scheme for ApiKeyConfig {
    fn check(&self, key: &str) -> Result<(), (String, String)> {
        check_header_name(&format!("{key}.header"), &self.header)?;
        check_secret_names(&format!("{key}.keys"), &self.keys)
    }

    fn build(
        &self,
        secret: &mut ReadSecret<'_>,
        _file: &ReadFile<'_>,
    ) -> Result<Box<dyn InboundCheck>, String> {
        Ok(Box::new(ApiKey {
            header: header_name(&self.header)?,
            prefix: self.prefix.clone(),
            keys: self
                .keys
                .iter()
                .map(|name| secret(name, Kind::ApiKey).map(|key| Sha256::digest(&key).into()))
                .collect::<Result<_, _>>()?,
        }))
    }
}

/// The SHA-256 of each accepted key is kept, so comparisons are of fixed
/// length.
struct ApiKey {
    header: HeaderName,
    prefix: String,
    keys: Vec<[u8; 32]>,
}

impl InboundCheck for ApiKey {
    fn needs_body(&self) -> bool {
        false
    }

    fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Denied> {
        let value = header_text(request.headers, &self.header)?;
        let key = value
            .strip_prefix(self.prefix.as_str())
            .ok_or(Denied::Invalid)?;
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        let mut matched = Choice::from(0);
        for accepted in &self.keys {
            matched |= accepted.ct_eq(&digest);
        }
        if bool::from(matched) {
            Ok(Verified::default())
        } else {
            Err(Denied::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{build_with, headers, verify};
    use super::*;

    #[test]
    fn api_keys_match_any_configured_key() {
        let check = build_with(
            "{ type: api-key, keys: [old, new] }",
            &[
                ("old", b"old-key-0123456789"),
                ("new", b"new-key-0123456789"),
            ],
        )
        .unwrap();
        for key in ["new-key-0123456789", "old-key-0123456789"] {
            assert!(verify(&*check, &headers(&[("x-api-key", key)]), b"", 0).is_ok());
        }
        assert_eq!(
            verify(&*check, &headers(&[("x-api-key", "nope")]), b"", 0).unwrap_err(),
            Denied::Invalid
        );
        assert_eq!(
            verify(&*check, &headers(&[]), b"", 0).unwrap_err(),
            Denied::Missing
        );
    }
}
