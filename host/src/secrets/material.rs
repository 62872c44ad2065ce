//! What a secret's bytes must be for the use they are put to, decoded
//! strictly.
//!
//! A secret that is empty, does not decode, or is too short to resist
//! guessing is an error naming the secret and what is wrong, never a
//! value: a secret that silently turned into an empty or shorter key would
//! let anyone sign webhooks (a Standard Webhooks secret saved as UTF-16 once
//! became an empty HMAC key). The rules:
//!
//! | kind | what the value must be |
//! | --- | --- |
//! | [`Kind::PolicyKey`] | at least 16 bytes (the keyed-hash pepper and other keys a policy names) |
//! | [`Kind::HmacKey`] | at least 16 bytes (a shorter key can be guessed offline from one signed webhook) |
//! | [`Kind::StandardWebhooks`] | `whsec_` (optional) and standard base64 with padding, nothing else, of 24 to 64 bytes |
//! | [`Kind::ApiKey`] | at least 16 bytes, visible ASCII only (it travels in a header) |
//! | [`Kind::HeaderValue`] | not empty, visible ASCII, spaces and tabs only (an upstream's header) |
//! | [`Kind::Text`] | not empty, UTF-8 (an OAuth client secret) |
//! | [`Kind::StoreKey`] | at least 32 bytes (the key leads are sealed under at rest) |

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// The use a secret is put to, which says how its bytes are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A key a policy names (`hash` keys): raw bytes.
    PolicyKey,
    /// An HMAC signing key of an inbound check: raw bytes.
    HmacKey,
    /// A Standard Webhooks signing secret, `whsec_<base64>`.
    StandardWebhooks,
    /// An API key that senders put in a header.
    ApiKey,
    /// A header value sent upstream.
    HeaderValue,
    /// Text, such as an OAuth client secret.
    Text,
    /// The key queued leads are sealed under: raw bytes, at least
    /// [`MIN_STORE_KEY_BYTES`].
    StoreKey,
}

/// The fewest bytes of a key that is not decoded (HMAC keys, API keys,
/// policy keys): 128 bits.
pub const MIN_KEY_BYTES: usize = 16;

/// The fewest bytes of a store key: 256 bits, as SPEC §8 asks.
pub const MIN_STORE_KEY_BYTES: usize = 32;

/// The sizes the Standard Webhooks specification allows for a signing
/// secret, after base64.
pub const STANDARD_WEBHOOKS_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// Why a secret's bytes are not fit for their use. Says what is wrong,
/// never what the value is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// No bytes at all.
    #[error("is empty")]
    Empty,
    /// Fewer bytes than the kind needs.
    #[error("is {len} bytes long, shorter than the {min} bytes it needs")]
    TooShort {
        /// How long it is.
        len: usize,
        /// How long it must be at least.
        min: usize,
    },
    /// More bytes than the kind allows.
    #[error("is {len} bytes long, longer than the {max} bytes allowed")]
    TooLong {
        /// How long it is.
        len: usize,
        /// How long it may be at most.
        max: usize,
    },
    /// Not UTF-8 (for example saved as UTF-16).
    #[error("is not UTF-8 text (saved as UTF-16, or binary?)")]
    NotUtf8,
    /// Not standard base64 with padding.
    #[error("is not `whsec_` followed by standard base64 (with `=` padding, no spaces)")]
    NotBase64,
    /// A character that cannot travel in an HTTP header.
    #[error("holds a character that cannot be sent in an HTTP header")]
    NotHeaderText,
}

/// Decodes `raw` for its use: the key bytes to use, or what is wrong.
pub fn decode(kind: Kind, raw: Vec<u8>) -> Result<Vec<u8>, Malformed> {
    if raw.is_empty() {
        return Err(Malformed::Empty);
    }
    match kind {
        Kind::PolicyKey | Kind::HmacKey => at_least(raw, MIN_KEY_BYTES),
        Kind::StoreKey => at_least(raw, MIN_STORE_KEY_BYTES),
        Kind::ApiKey => {
            if !raw.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(Malformed::NotHeaderText);
            }
            at_least(raw, MIN_KEY_BYTES)
        }
        Kind::HeaderValue => {
            if !raw.iter().all(|b| (0x20..=0x7e).contains(b) || *b == b'\t') {
                return Err(Malformed::NotHeaderText);
            }
            Ok(raw)
        }
        Kind::Text => {
            text(&raw)?;
            Ok(raw)
        }
        Kind::StandardWebhooks => {
            let text = text(&raw)?;
            let encoded = text.strip_prefix("whsec_").unwrap_or(text);
            // The base64 crate's standard engine refuses white space,
            // missing or extra padding and non-canonical trailing bits.
            let key = BASE64.decode(encoded).map_err(|_| Malformed::NotBase64)?;
            let (min, max) = (
                *STANDARD_WEBHOOKS_BYTES.start(),
                *STANDARD_WEBHOOKS_BYTES.end(),
            );
            if key.is_empty() {
                return Err(Malformed::Empty);
            }
            if key.len() > max {
                return Err(Malformed::TooLong {
                    len: key.len(),
                    max,
                });
            }
            at_least(key, min)
        }
    }
}

/// UTF-8 without NUL bytes (UTF-16 text of ASCII characters is valid
/// UTF-8 but full of them).
fn text(raw: &[u8]) -> Result<&str, Malformed> {
    match std::str::from_utf8(raw) {
        Ok(text) if !text.contains('\0') => Ok(text),
        _ => Err(Malformed::NotUtf8),
    }
}

fn at_least(bytes: Vec<u8>, min: usize) -> Result<Vec<u8>, Malformed> {
    if bytes.len() < min {
        return Err(Malformed::TooShort {
            len: bytes.len(),
            min,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whsec(bytes: usize) -> Vec<u8> {
        format!("whsec_{}", BASE64.encode(vec![7u8; bytes])).into_bytes()
    }

    #[test]
    fn standard_webhooks_secrets_are_24_to_64_bytes_of_strict_base64() {
        assert_eq!(
            decode(Kind::StandardWebhooks, whsec(24)).unwrap(),
            vec![7; 24]
        );
        assert_eq!(decode(Kind::StandardWebhooks, whsec(64)).unwrap().len(), 64);
        // Without the prefix, as the Standard Webhooks libraries accept it.
        let bare = BASE64.encode([1u8; 32]).into_bytes();
        assert_eq!(decode(Kind::StandardWebhooks, bare).unwrap(), vec![1; 32]);
        let cases: [(Vec<u8>, Malformed); 9] = [
            // Exactly `whsec_`: once an empty key.
            (b"whsec_".to_vec(), Malformed::Empty),
            (Vec::new(), Malformed::Empty),
            (whsec(23), Malformed::TooShort { len: 23, min: 24 }),
            (whsec(65), Malformed::TooLong { len: 65, max: 64 }),
            // Saved as UTF-16: once decoded as an empty key.
            (
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes)
                    .collect(),
                Malformed::NotUtf8,
            ),
            (b"whsec_not base64!".to_vec(), Malformed::NotBase64),
            // Padding left out, and a trailing space.
            (
                format!("whsec_{}", BASE64.encode([7u8; 25]).trim_end_matches('=')).into_bytes(),
                Malformed::NotBase64,
            ),
            (
                format!("whsec_{} ", BASE64.encode([7u8; 24])).into_bytes(),
                Malformed::NotBase64,
            ),
            // Non-canonical trailing bits (`...=` where `...w=` is meant).
            (
                format!("whsec_{}AB==", "A".repeat(32)).into_bytes(),
                Malformed::NotBase64,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(decode(Kind::StandardWebhooks, raw), Err(expected));
        }
    }

    #[test]
    fn keys_are_at_least_16_bytes() {
        for kind in [Kind::HmacKey, Kind::PolicyKey, Kind::ApiKey] {
            assert_eq!(decode(kind, Vec::new()), Err(Malformed::Empty));
            assert_eq!(
                decode(kind, b"short".to_vec()),
                Err(Malformed::TooShort { len: 5, min: 16 })
            );
            assert!(decode(kind, b"sixteen-bytes-ok".to_vec()).is_ok());
        }
        // HMAC and policy keys are bytes; an API key travels in a header.
        assert!(decode(Kind::HmacKey, vec![0xff; 32]).is_ok());
        assert_eq!(
            decode(Kind::ApiKey, b"a key with spaces in it".to_vec()),
            Err(Malformed::NotHeaderText)
        );
        assert_eq!(
            decode(Kind::ApiKey, vec![0xff; 32]),
            Err(Malformed::NotHeaderText)
        );
    }

    #[test]
    fn store_keys_are_at_least_32_bytes() {
        assert_eq!(
            decode(Kind::StoreKey, vec![7; 31]),
            Err(Malformed::TooShort { len: 31, min: 32 })
        );
        assert!(decode(Kind::StoreKey, vec![0xff; 32]).is_ok());
    }

    #[test]
    fn header_values_and_text() {
        assert!(decode(Kind::HeaderValue, b"Bearer x y".to_vec()).is_ok());
        assert_eq!(
            decode(Kind::HeaderValue, b"line\nbreak".to_vec()),
            Err(Malformed::NotHeaderText)
        );
        assert_eq!(decode(Kind::Text, vec![0xff]), Err(Malformed::NotUtf8));
        assert_eq!(decode(Kind::Text, Vec::new()), Err(Malformed::Empty));
    }

    #[test]
    fn no_error_repeats_the_value() {
        let value = b"whsec_hunter2hunter2 with a space".to_vec();
        let message = decode(Kind::StandardWebhooks, value)
            .unwrap_err()
            .to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
