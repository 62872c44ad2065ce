//! `jwt`: an OAuth 2.0 bearer token (a JWT) checked against the public
//! keys of a JWKS file.

use base64::Engine as _;
use hyper::header::AUTHORIZATION;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::{Denied, Inbound, InboundCheck, ReadFile, Scheme, Verified, header_text};
use crate::secrets::ReadSecret;

/// JWT algorithms a route may accept: public-key ones only, so a JWKS can
/// never turn into a shared secret.
pub const JWT_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// `type: jwt`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The JSON Web Key Set with the issuer's public keys.
    pub jwks_file: std::path::PathBuf,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of).
    pub audience: Vec<String>,
    /// Accepted algorithms (default RS256, ES256).
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Clock skew allowed for `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn default_leeway() -> u64 {
    30
}

impl Scheme for JwtConfig {
    fn check(&self, key: &str) -> Result<(), (String, String)> {
        if self.issuer.is_empty() {
            return Err((format!("{key}.issuer"), "must not be empty".into()));
        }
        if self.audience.is_empty() {
            return Err((
                format!("{key}.audience"),
                "name at least one audience".into(),
            ));
        }
        if self.algorithms.is_empty() {
            return Err((
                format!("{key}.algorithms"),
                "name at least one algorithm".into(),
            ));
        }
        for (i, alg) in self.algorithms.iter().enumerate() {
            if !JWT_ALGORITHMS.contains(&alg.as_str()) {
                return Err((
                    format!("{key}.algorithms[{i}]"),
                    format!("`{alg}` is not one of {}", JWT_ALGORITHMS.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn build(
        &self,
        _secret: &mut ReadSecret<'_>,
        file: &ReadFile<'_>,
    ) -> Result<Box<dyn InboundCheck>, String> {
        let JwtConfig {
            jwks_file,
            issuer,
            audience,
            algorithms,
            leeway_seconds,
        } = self;
        let bytes = file(jwks_file)?;
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| format!("`{}` is not a JSON Web Key Set: {e}", jwks_file.display()))?;
        let mut keys = Vec::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            check_jwk(jwk)
                .map_err(|problem| format!("`{}`: key {i} {problem}", jwks_file.display()))?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("`{}`: key {i} is not usable: {e}", jwks_file.display()))?;
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
        Ok(Box::new(JwtCheck { keys, validation }))
    }
}

/// The keys and rules of a JWT check.
struct JwtCheck {
    keys: Vec<JwtKey>,
    validation: Validation,
}

struct JwtKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl InboundCheck for JwtCheck {
    fn needs_body(&self) -> bool {
        false
    }

    fn verify(&self, request: &Inbound<'_>) -> Result<Verified, Denied> {
        let headers = request.headers;
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

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header};

    use super::super::tests::{build_with_files, headers, verify};
    use super::*;

    /// An ES256 key as a JWK with `kid`, and its signing key.
    fn key(kid: &str) -> (serde_json::Value, EncodingKey) {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw();
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        (jwk, EncodingKey::from_ec_der(&pair.serialize_der()))
    }

    fn bearer(kid: &str, key: &EncodingKey) -> hyper::HeaderMap {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let claims = serde_json::json!({"iss": "https://issuer.test", "aud": "leads", "exp": 4_000_000_000u64});
        let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
        headers(&[("authorization", &format!("Bearer {token}"))])
    }

    const CONFIG: &str = "{ type: jwt, jwks_file: jwks.json, issuer: 'https://issuer.test', audience: [leads], algorithms: [ES256] }";

    /// Rotation (hardening, item 14): a token signed by any key of the JWKS
    /// verifies; once a key is removed from it, its tokens do not.
    #[test]
    fn a_token_by_any_key_of_the_set_verifies_until_the_key_is_removed() {
        let (old_jwk, old) = key("old");
        let (new_jwk, new) = key("new");
        let both = serde_json::json!({"keys": [old_jwk, new_jwk.clone()]}).to_string();
        let only_new = serde_json::json!({"keys": [new_jwk]}).to_string();
        let check = build_with_files(CONFIG, &[], &[("jwks.json", both.as_bytes())]).unwrap();
        assert!(verify(&*check, &bearer("new", &new), b"", 0).is_ok());
        assert!(verify(&*check, &bearer("old", &old), b"", 0).is_ok());
        // A token naming one key but signed by the other does not verify.
        assert!(verify(&*check, &bearer("new", &old), b"", 0).is_err());
        let rotated = build_with_files(CONFIG, &[], &[("jwks.json", only_new.as_bytes())]).unwrap();
        assert!(verify(&*rotated, &bearer("new", &new), b"", 0).is_ok());
        assert_eq!(
            verify(&*rotated, &bearer("old", &old), b"", 0).unwrap_err(),
            Denied::Invalid
        );
    }

    fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    fn token(kid: Option<&str>, key: &EncodingKey, exp: u64) -> hyper::HeaderMap {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.map(str::to_owned);
        let claims = serde_json::json!({"iss": "https://issuer.test", "aud": "leads", "exp": exp});
        let token = jsonwebtoken::encode(&header, &claims, key).unwrap();
        headers(&[("authorization", &format!("Bearer {token}"))])
    }

    /// From mutation testing: the defaults (ES256 among the algorithms, 30
    /// seconds of leeway), keys and tokens without a `kid`, and a check
    /// that needs no body.
    #[test]
    fn defaults_and_keys_without_an_id() {
        let (mut jwk, signing) = key("k1");
        let with_kid = serde_json::json!({"keys": [jwk.clone()]}).to_string();
        jwk.as_object_mut().unwrap().remove("kid");
        let without_kid = serde_json::json!({"keys": [jwk]}).to_string();
        let defaults =
            "{ type: jwt, jwks_file: jwks.json, issuer: 'https://issuer.test', audience: [leads] }";
        let check = build_with_files(defaults, &[], &[("jwks.json", with_kid.as_bytes())]).unwrap();
        assert!(!check.needs_body());
        let fresh = now() + 600;
        assert!(verify(&*check, &token(Some("k1"), &signing, fresh), b"", 0).is_ok());
        assert!(verify(&*check, &token(None, &signing, fresh), b"", 0).is_ok());
        // Within the default leeway, and past it.
        assert!(verify(&*check, &token(Some("k1"), &signing, now() - 10), b"", 0).is_ok());
        assert_eq!(
            verify(&*check, &token(Some("k1"), &signing, now() - 120), b"", 0).unwrap_err(),
            Denied::Expired
        );
        let check =
            build_with_files(defaults, &[], &[("jwks.json", without_kid.as_bytes())]).unwrap();
        assert!(verify(&*check, &token(Some("k1"), &signing, fresh), b"", 0).is_ok());
    }

    /// From mutation testing: what a JWKS may not hold, with RSA moduli at
    /// the size limit.
    #[test]
    fn a_jwks_holds_signing_public_keys_of_enough_bits() {
        let build = |jwk: serde_json::Value| {
            let set = serde_json::json!({"keys": [jwk]}).to_string();
            build_with_files(CONFIG, &[], &[("jwks.json", set.as_bytes())])
                .map(|_| ())
                .map_err(|e| e.replace("`jwks.json`: ", ""))
        };
        let rsa = |modulus: Vec<u8>| serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB"});
        let full = |len: usize| {
            let mut n = vec![0xc5; len];
            n[len - 1] = 0x01;
            n
        };
        assert_eq!(build(rsa(full(256))), Ok(()));
        let mut padded = full(256);
        padded.insert(0, 0);
        assert_eq!(build(rsa(padded)), Ok(()));
        assert_eq!(
            build(rsa(full(255))),
            Err("key 0 is an RSA key of about 2040 bits; at least 2048 are needed".into())
        );
        let mut short = full(255);
        short.insert(0, 0);
        assert_eq!(
            build(rsa(short)),
            Err("key 0 is an RSA key of about 2040 bits; at least 2048 are needed".into())
        );
        let (mut ec, _) = key("k");
        ec["use"] = "enc".into();
        assert!(build(ec).unwrap_err().contains("meant for encryption"));
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"});
        assert!(build(oct).unwrap_err().contains("shared secret"));
    }
}
