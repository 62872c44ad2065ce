//! The delivery part of the configuration (SPEC §8): where queued leads
//! wait (`store:`), how a route delivers (`delivery:`), a route's several
//! `destinations`, and what a deliberate refusal is answered
//! (`on_refused`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{UpstreamConfig, check_secret_name};
use crate::delivery::Schedule;
use crate::delivery::schedule::{DEFAULT_MAX_AGE, DEFAULT_RETRY, parse_duration};

/// A duration written as in the spec: `5s`, `30m`, `72h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Human(pub Duration);

impl<'de> Deserialize<'de> for Human {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Human, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text)
            .map(Human)
            .map_err(serde::de::Error::custom)
    }
}

/// Which store holds queued leads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreType {
    /// An embedded ACID store (redb) in one directory.
    #[default]
    Local,
    /// A NATS JetStream stream shared by every proxy with the same store.
    Nats,
}

/// The largest a local store grows by default: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// The stream a NATS store uses by default.
pub const DEFAULT_STREAM: &str = "LEADFILTER";

/// `store:`, where queued leads wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `local` (default) or `nats`.
    #[serde(rename = "type", default)]
    pub kind: StoreType,
    /// local: the directory (created with mode 0700).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// nats: the servers.
    #[serde(default)]
    pub urls: Vec<String>,
    /// nats: the stream (created if missing). Default `LEADFILTER`.
    #[serde(default)]
    pub stream: Option<String>,
    /// nats: the name of a secret holding a `.creds` file or a token.
    #[serde(default)]
    pub credentials: Option<String>,
    /// nats: the stream's replicas when it is created. Default 1.
    #[serde(default)]
    pub replicas: Option<usize>,
    /// The name of the secret (at least 32 bytes) the store key is derived
    /// from.
    pub key: String,
    /// The most the store may hold, in bytes; new leads are refused (503)
    /// at the limit. Default 1 GiB.
    #[serde(default)]
    pub max_bytes: Option<u64>,
}

impl StoreConfig {
    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES)
    }

    /// The NATS stream's name.
    pub fn stream(&self) -> &str {
        self.stream.as_deref().unwrap_or(DEFAULT_STREAM)
    }

    pub(super) fn check(&self) -> Result<(), (String, String)> {
        check_secret_name("store.key", &self.key)?;
        if self.max_bytes == Some(0) {
            return Err(("store.max_bytes".into(), "must be greater than 0".into()));
        }
        match self.kind {
            StoreType::Local => {
                if self.path.is_none() {
                    return Err((
                        "store.path".into(),
                        "a local store needs the directory it keeps queued leads in".into(),
                    ));
                }
                for (key, set) in [
                    ("store.urls", !self.urls.is_empty()),
                    ("store.stream", self.stream.is_some()),
                    ("store.credentials", self.credentials.is_some()),
                    ("store.replicas", self.replicas.is_some()),
                ] {
                    if set {
                        return Err((key.into(), "is for `type: nats` only".into()));
                    }
                }
            }
            StoreType::Nats => {
                if self.urls.is_empty() {
                    return Err((
                        "store.urls".into(),
                        "a NATS store needs at least one server URL (`nats://host:4222`)".into(),
                    ));
                }
                for (i, url) in self.urls.iter().enumerate() {
                    let ok = ["nats://", "tls://"].iter().any(|s| url.starts_with(s))
                        && url.len() > "nats://".len();
                    if !ok {
                        return Err((
                            format!("store.urls[{i}]"),
                            "a NATS server URL starts with `nats://` or `tls://`".into(),
                        ));
                    }
                }
                if self.path.is_some() {
                    return Err(("store.path".into(), "is for `type: local` only".into()));
                }
                let stream = self.stream();
                if stream.is_empty()
                    || !stream
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err((
                        "store.stream".into(),
                        "a stream name is letters, digits, `-` and `_`".into(),
                    ));
                }
                if let Some(name) = &self.credentials {
                    check_secret_name("store.credentials", name)?;
                }
                if matches!(self.replicas, Some(0) | Some(6..)) {
                    return Err(("store.replicas".into(), "is 1 to 5".into()));
                }
            }
        }
        Ok(())
    }
}

/// `delivery.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Forward while the sender waits; the sender retries (default).
    #[default]
    Direct,
    /// Store the filtered lead, answer 202, deliver with retries.
    Queued,
}

/// Where a request's duplicate key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DedupFrom {
    /// A request header.
    Header(String),
    /// A JSON pointer into the raw lead.
    Pointer(String),
}

/// `dedup:`: requests with the same key within `window` are duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupConfig {
    /// Where the key is.
    pub from: DedupFrom,
    /// How long a key is remembered.
    pub window: Duration,
}

/// The default window of a duplicate key.
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl<'de> Deserialize<'de> for DedupConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<DedupConfig, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            from: String,
            #[serde(default)]
            window: Option<Human>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let from = if let Some(name) = raw.from.strip_prefix("header:") {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(serde::de::Error::custom(
                    "`header:` is followed by a header name",
                ));
            }
            DedupFrom::Header(name.to_ascii_lowercase())
        } else if let Some(pointer) = raw.from.strip_prefix("pointer:") {
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                return Err(serde::de::Error::custom(
                    "`pointer:` is followed by a JSON pointer (`/event_id`)",
                ));
            }
            DedupFrom::Pointer(pointer.to_owned())
        } else {
            return Err(serde::de::Error::custom(
                "`from` is `header:NAME` or `pointer:/json/pointer`",
            ));
        };
        Ok(DedupConfig {
            from,
            window: raw.window.map_or(DEFAULT_DEDUP_WINDOW, |h| h.0),
        })
    }
}

/// `dedup: none`, or a [`DedupConfig`].
fn dedup_setting<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DedupConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Word(String),
        On(DedupConfig),
    }
    match Setting::deserialize(deserializer)? {
        Setting::Word(word) if word == "none" => Ok(None),
        Setting::Word(_) => Err(serde::de::Error::custom(
            "`dedup` is `none` or `{ from: \"header:NAME\" | \"pointer:/path\", window: 24h }`",
        )),
        Setting::On(config) => Ok(Some(config)),
    }
}

/// The most leads a second an upstream may be sent.
pub const MAX_RATE_PER_SECOND: f64 = 10_000.0;

/// `delivery:`, how a route (or destination) delivers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// `direct` (default) or `queued`.
    #[serde(default)]
    pub mode: DeliveryMode,
    /// The delays after the first attempt (default `[5s, 5m, 30m, 2h, 5h,
    /// 10h, 10h]`).
    #[serde(default)]
    pub retry: Option<Vec<Human>>,
    /// Dead-lettered after this (default `72h`).
    #[serde(default)]
    pub max_age: Option<Human>,
    /// Outbound pacing: at most this many attempts a second to this
    /// upstream.
    #[serde(default)]
    pub rate_per_second: Option<f64>,
    /// Duplicate requests.
    #[serde(default, deserialize_with = "dedup_setting")]
    pub dedup: Option<DedupConfig>,
}

impl DeliveryConfig {
    /// The retry schedule.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            retry: self
                .retry
                .as_ref()
                .map(|r| r.iter().map(|h| h.0).collect())
                .unwrap_or_else(|| DEFAULT_RETRY.to_vec()),
            max_age: self.max_age.map_or(DEFAULT_MAX_AGE, |h| h.0),
        }
    }

    pub(super) fn check(&self, key: &str, fan_out: bool) -> Result<(), (String, String)> {
        let queued_only = |name: &str| {
            (
                format!("{key}.{name}"),
                "is for `mode: queued` (a direct route forwards while the sender waits)".to_owned(),
            )
        };
        if self.mode == DeliveryMode::Direct {
            if fan_out {
                return Err((
                    format!("{key}.mode"),
                    "a destination is delivered `mode: queued` (fan-out needs a store)".into(),
                ));
            }
            for (name, set) in [
                ("retry", self.retry.is_some()),
                ("max_age", self.max_age.is_some()),
                ("rate_per_second", self.rate_per_second.is_some()),
                ("dedup", self.dedup.is_some()),
            ] {
                if set {
                    return Err(queued_only(name));
                }
            }
        }
        if let Some(rate) = self.rate_per_second
            && !(rate > 0.0 && rate <= MAX_RATE_PER_SECOND)
        {
            return Err((
                format!("{key}.rate_per_second"),
                format!("is more than 0 and at most {MAX_RATE_PER_SECOND}"),
            ));
        }
        if self.retry.as_ref().is_some_and(|r| r.len() > 100) {
            return Err((
                format!("{key}.retry"),
                "at most 100 delays (use `max_age` for a long tail)".into(),
            ));
        }
        if fan_out && self.dedup.is_some() {
            return Err((
                format!("{key}.dedup"),
                "on a route with `destinations`, `dedup` is the route's (`routes[N].dedup`): one request is one duplicate key".into(),
            ));
        }
        Ok(())
    }
}

/// `on_refused`: what a sender hears when the policy refuses its lead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnRefused {
    /// 422 with the failure kind (default).
    #[default]
    Reject,
    /// `200 {"status": "refused", "kind": ...}`: for senders that retry or
    /// turn a webhook off on a 4xx.
    Acknowledge,
}

/// One of a route's `destinations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Its name, in answers, logs, metrics and `queue list`.
    pub name: String,
    /// Its policy (as a route's `policy`).
    pub policy: PathBuf,
    /// Where filtered leads go.
    pub upstream: UpstreamConfig,
    /// How (`mode: queued`).
    pub delivery: DeliveryConfig,
}

/// Whether a name is a destination name: letters, digits, `-`, `_`, `.`.
pub(super) fn is_destination_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
