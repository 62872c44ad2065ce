//! Leads at rest: sealed with XChaCha20-Poly1305 under a key derived from
//! the store's secret (HKDF-SHA256), a fresh random nonce per record and
//! the delivery id as associated data, so a record cannot be read without
//! the key, changed unnoticed, or moved to another delivery id.
//!
//! Duplicate keys (`dedup`) are stored as HMAC-SHA256 under a second key
//! derived from the same secret, never in the clear.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The first byte of a sealed record: the format, so that it can change.
const VERSION: u8 = 1;
/// The nonce's length.
const NONCE: usize = 24;
/// HKDF's salt: which product and which use the keys are for.
const SALT: &[u8] = b"leadfilter queue v1";

/// The keys derived from a store's secret.
pub struct Sealer {
    aead: XChaCha20Poly1305,
    dedup: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<keys hidden>)")
    }
}

/// A record that does not open: it was changed, belongs to another delivery
/// id, or was sealed under another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "a stored record does not open under the store key (changed, moved, or sealed under another key)"
)]
pub struct Unsealable;

impl Sealer {
    /// Derives the keys from the store's secret (already checked to be at
    /// least 32 bytes, `secrets::Kind::StoreKey`).
    pub fn new(secret: &[u8]) -> Sealer {
        let hkdf = Hkdf::<Sha256>::new(Some(SALT), secret);
        let mut lead_key = [0u8; 32];
        let mut dedup = [0u8; 32];
        // 32 bytes are far below HKDF-SHA256's limit of 8160.
        hkdf.expand(b"lead encryption", &mut lead_key)
            .expect("32 bytes is a valid HKDF length");
        hkdf.expand(b"dedup keys", &mut dedup)
            .expect("32 bytes is a valid HKDF length");
        Sealer {
            aead: XChaCha20Poly1305::new(&lead_key.into()),
            dedup,
        }
    }

    /// Seals `plain` for the delivery `id`.
    pub fn seal(&self, id: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = self
            .aead
            .encrypt(
                &nonce,
                Payload {
                    msg: plain,
                    aad: id.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length a lead can have");
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens a record sealed for the delivery `id`.
    pub fn open(&self, id: &str, sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
        let (&version, rest) = sealed.split_first().ok_or(Unsealable)?;
        if version != VERSION || rest.len() < NONCE {
            return Err(Unsealable);
        }
        let (nonce, body) = rest.split_at(NONCE);
        self.aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| Unsealable)
    }

    /// The stored form of a duplicate key of a route: a keyed hash, in hex.
    pub fn dedup_key(&self, route: &str, key: &[u8]) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.dedup).expect("HMAC takes any key");
        mac.update(route.as_bytes());
        mac.update(&[0]);
        mac.update(key);
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a store key of at least thirty-two bytes";

    #[test]
    fn a_record_opens_only_with_its_key_and_its_id() {
        let sealer = Sealer::new(SECRET);
        let sealed = sealer.seal("d1", b"{\"email\":\"ada@example.com\"}");
        assert!(!sealed.windows(3).any(|w| w == b"ada"), "plaintext at rest");
        assert_eq!(
            sealer.open("d1", &sealed).unwrap(),
            b"{\"email\":\"ada@example.com\"}"
        );
        assert_eq!(sealer.open("d2", &sealed), Err(Unsealable));
        let other = Sealer::new(b"another store key, also thirty-two bytes");
        assert_eq!(other.open("d1", &sealed), Err(Unsealable));
        let mut changed = sealed.clone();
        *changed.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open("d1", &changed), Err(Unsealable));
        for cut in [0, 1, 10, 25] {
            assert_eq!(sealer.open("d1", &sealed[..cut]), Err(Unsealable));
        }
    }

    #[test]
    fn every_seal_has_a_fresh_nonce() {
        let sealer = Sealer::new(SECRET);
        assert_ne!(sealer.seal("d1", b"same"), sealer.seal("d1", b"same"));
    }

    #[test]
    fn dedup_keys_are_keyed_per_route_and_hide_the_key() {
        let sealer = Sealer::new(SECRET);
        let a = sealer.dedup_key("/hooks/a", b"msg_1");
        assert_eq!(a, sealer.dedup_key("/hooks/a", b"msg_1"));
        assert_ne!(a, sealer.dedup_key("/hooks/b", b"msg_1"));
        assert_ne!(
            a,
            Sealer::new(b"another store key, also thirty-two bytes")
                .dedup_key("/hooks/a", b"msg_1")
        );
        assert_eq!(a.len(), 64);
        assert!(!a.contains("msg"));
    }
}
