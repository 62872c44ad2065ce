//! `hmac-sha256`: an HMAC-SHA256 signature of the raw body in a header
//! (GitHub, Shopify, Typeform and most other senders).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::header::HeaderName;
use serde::Deserialize;
use subtle::{Choice, ConstantTimeEq};

use super::{
    Denied, Inbound, InboundCheck, ReadFile, Scheme, Verified, check_header_name,
    check_secret_names, decode_hex, header_name, header_text, hmac,
};
use crate::secrets::{Kind, ReadSecret};

/// `type: hmac-sha256`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HmacConfig {
    /// The header, e.g. `Typeform-Signature`.
    pub header: String,
    /// Text before the signature, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: String,
    /// How the signature is written.
    pub encoding: SignatureEncoding,
    /// Names of the secrets holding the signing keys.
    pub secrets: Vec<String>,
}

/// How an HMAC signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureEncoding {
    /// Hexadecimal (GitHub), either case.
    Hex,
    /// Standard base64 with padding (Shopify, Typeform).
    Base64,
}

impl Scheme for HmacConfig {
    fn check(&self, key: &str) -> Result<(), (String, String)> {
        check_header_name(&format!("{key}.header"), &self.header)?;
        check_secret_names(&format!("{key}.secrets"), &self.secrets)
    }

    fn build(
        &self,
        secret: &mut ReadSecret<'_>,
        _file: &ReadFile<'_>,
    ) -> Result<Box<dyn InboundCheck>, String> {
        Ok(Box::new(HmacSha256 {
            header: header_name(&self.header)?,
            prefix: self.prefix.clone(),
            encoding: self.encoding,
            keys: self
                .secrets
                .iter()
                .map(|name| secret(name, Kind::HmacKey))
                .collect::<Result<_, _>>()?,
        }))
    }
}

struct HmacSha256 {
    header: HeaderName,
    prefix: String,
    encoding: SignatureEncoding,
    keys: Vec<Vec<u8>>,
}

impl InboundCheck for HmacSha256 {
    fn needs_body(&self) -> bool {
        true
    }

    fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Denied> {
        let value = header_text(request.headers, &self.header)?;
        let signature = value
            .trim()
            .strip_prefix(self.prefix.as_str())
            .ok_or(Denied::Invalid)?;
        let provided = match self.encoding {
            SignatureEncoding::Hex => decode_hex(signature),
            SignatureEncoding::Base64 => BASE64.decode(signature).ok(),
        }
        .ok_or(Denied::Invalid)?;
        let mut matched = Choice::from(0);
        for key in &self.keys {
            matched |= hmac(key, &[request.body]).ct_eq(&provided);
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

    const KEY: &[u8] = b"hmac-signing-key";

    #[test]
    fn hmac_signatures_in_hex_and_base64() {
        let mac = hmac(KEY, &[b"body"]);
        let hex: String = mac.iter().map(|b| format!("{b:02X}")).collect();
        let check = build_with(
            "{ type: hmac-sha256, header: X-Hub-Signature-256, prefix: 'sha256=', encoding: hex, secrets: [k] }",
            &[("k", KEY)],
        )
        .unwrap();
        let good = format!("sha256={hex}");
        let h = headers(&[("x-hub-signature-256", &good)]);
        assert!(verify(&*check, &h, b"body", 0).is_ok());
        assert!(verify(&*check, &h, b"bodY", 0).is_err());
        let bare = headers(&[("x-hub-signature-256", &hex)]);
        assert!(verify(&*check, &bare, b"body", 0).is_err());
        let check = build_with(
            "{ type: hmac-sha256, header: X-Shopify-Hmac-Sha256, encoding: base64, secrets: [k] }",
            &[("k", KEY)],
        )
        .unwrap();
        let b64 = BASE64.encode(mac);
        let h = headers(&[("x-shopify-hmac-sha256", &b64)]);
        assert!(verify(&*check, &h, b"body", 0).is_ok());
    }

    /// Rotation (hardening, item 14): every configured secret is tried, not
    /// only the first, and a removed one no longer verifies.
    #[test]
    fn a_signature_by_any_configured_secret_verifies() {
        let config = "{ type: hmac-sha256, header: X-Sig, encoding: hex, secrets: [old, new] }";
        let old: &[u8] = b"the-old-signing-key";
        let new: &[u8] = b"the-new-signing-key";
        let check = build_with(config, &[("old", old), ("new", new)]).unwrap();
        let signed = |key: &[u8]| {
            let hex: String = hmac(key, &[b"body"])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            headers(&[("x-sig", &hex)])
        };
        assert!(verify(&*check, &signed(new), b"body", 0).is_ok());
        assert!(verify(&*check, &signed(old), b"body", 0).is_ok());
        let rotated = build_with(
            "{ type: hmac-sha256, header: X-Sig, encoding: hex, secrets: [new] }",
            &[("new", new)],
        )
        .unwrap();
        assert!(verify(&*rotated, &signed(new), b"body", 0).is_ok());
        assert_eq!(
            verify(&*rotated, &signed(old), b"body", 0).unwrap_err(),
            Denied::Invalid
        );
    }
}
