//! Sending filtered leads to their destination: HTTPS (rustls), the
//! destination's own headers from secrets, optional OAuth 2.0 client
//! credentials, a timeout. An upstream's answer body is never passed back to
//! the sender.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{HeaderMap, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::config::{UpstreamConfig, check_url};
use crate::secrets::{Kind, ReadSecret};

/// Why a lead was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer in time (504 to the sender): it may have been taken.
    Timeout,
    /// No connection could be made (refused, unresolvable, TLS handshake
    /// failed): the lead was not sent (502).
    Unreachable,
    /// The connection broke after the lead was sent, or the answer was not
    /// HTTP: it may have been taken (502).
    Broken,
    /// The upstream answered with a non-2xx status (502; 503 when it asked
    /// for time with `Retry-After` on a 429 or 503, which is passed on).
    Status {
        /// The upstream's status.
        status: u16,
        /// The upstream's `Retry-After`, in seconds, on a 429 or 503.
        retry_after: Option<u64>,
    },
    /// No OAuth token could be had (502).
    Token,
}

impl UpstreamError {
    /// Whether the upstream may have taken the lead (the attempt's outcome
    /// is unknown).
    pub fn maybe_taken(&self) -> bool {
        matches!(self, UpstreamError::Timeout | UpstreamError::Broken)
    }

    /// The label in logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Timeout => "upstream-timeout",
            UpstreamError::Unreachable => "upstream-unreachable",
            UpstreamError::Broken => "upstream-broken",
            UpstreamError::Status { .. } => "upstream-status",
            UpstreamError::Token => "upstream-token",
        }
    }
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One route's upstream, with its secrets read.
pub struct Upstream {
    uri: Uri,
    /// The URL came from a secret: it is a credential, never shown.
    secret_uri: bool,
    headers: HeaderMap,
    client: HttpsClient,
    timeout: Duration,
    oauth: Option<OAuth>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("Upstream");
        if self.secret_uri {
            f.field("uri", &"(from a secret)");
        } else {
            f.field("uri", &self.uri);
        }
        f.finish_non_exhaustive()
    }
}

struct OAuth {
    token_uri: Uri,
    form: String,
    token: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
}

/// What `application/x-www-form-urlencoded` escapes: all but the unreserved
/// characters of RFC 3986.
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The most of an upstream's answer that is read (and thrown away).
const MAX_ANSWER_BYTES: usize = 1 << 20;

impl Upstream {
    /// Sets up an upstream; `secret` reads a named secret and `resolve`
    /// makes a configured path absolute. Errors name secrets and files,
    /// never values.
    pub fn build(
        config: &UpstreamConfig,
        default_timeout: Duration,
        secret: &mut ReadSecret<'_>,
        resolve: &dyn Fn(&std::path::Path) -> std::path::PathBuf,
    ) -> Result<Upstream, String> {
        let uri = match (&config.url, &config.url_secret) {
            (Some(url), _) => {
                check_url("url", url, config.allow_http_loopback).map_err(|(_, message)| message)?
            }
            (None, Some(name)) => {
                let url = String::from_utf8(secret(name, Kind::Text)?)
                    .map_err(|_| format!("secret `{name}` is not UTF-8"))?;
                // The message never holds the URL: it is a credential.
                check_url("url_secret", url.trim(), config.allow_http_loopback)
                    .map_err(|(_, message)| format!("the URL in secret `{name}`: {message}"))?
            }
            (None, None) => return Err("no `url` or `url_secret`".into()),
        };
        let mut headers = HeaderMap::new();
        for header in &config.headers {
            let name = HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|_| format!("`{}` is not a header name", header.name))?;
            let mut value = header.prefix.as_bytes().to_vec();
            match (&header.value, &header.secret) {
                (Some(constant), _) => value.extend_from_slice(constant.as_bytes()),
                (None, Some(name)) => value.extend(secret(name, Kind::HeaderValue)?),
                (None, None) => return Err(format!("header `{}` has no value", header.name)),
            }
            let mut value = HeaderValue::from_bytes(&value).map_err(|_| {
                format!("the value of header `{}` is not valid in HTTP", header.name)
            })?;
            value.set_sensitive(header.secret.is_some());
            headers.append(name, value);
        }
        let mut roots = RootCertStore::empty();
        match &config.ca_file {
            Some(path) => {
                let path = resolve(path);
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("`{}`: {e}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("`{}`: {e}", path.display()))?;
                }
                if roots.is_empty() {
                    return Err(format!("`{}` holds no certificate", path.display()));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let timeout = config
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(default_timeout);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
        let https = if config.allow_http_loopback {
            builder.https_or_http().enable_http1().wrap_connector(http)
        } else {
            builder.https_only().enable_http1().wrap_connector(http)
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        let oauth = match &config.oauth {
            None => None,
            Some(oauth) => {
                let token_uri =
                    check_url("token_url", &oauth.token_url, config.allow_http_loopback)
                        .map_err(|(_, message)| format!("oauth.token_url: {message}"))?;
                let client_secret = secret(&oauth.client_secret, Kind::Text)?;
                let client_secret = String::from_utf8(client_secret)
                    .map_err(|_| format!("secret `{}` is not UTF-8", oauth.client_secret))?;
                let mut form = vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", oauth.client_id.as_str()),
                    ("client_secret", client_secret.as_str()),
                ];
                if let Some(scope) = &oauth.scope {
                    form.push(("scope", scope));
                }
                if let Some(audience) = &oauth.audience {
                    form.push(("audience", audience));
                }
                let form = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, FORM)))
                    .collect::<Vec<_>>()
                    .join("&");
                Some(OAuth {
                    token_uri,
                    form,
                    token: tokio::sync::Mutex::new(None),
                })
            }
        };
        Ok(Upstream {
            uri,
            secret_uri: config.url.is_none(),
            headers,
            client,
            timeout,
            oauth,
        })
    }

    /// Posts a filtered lead with `X-Request-Id` (and `Idempotency-Key`,
    /// when given: a queued delivery's id); `Ok(status)` for a 2xx answer.
    pub async fn send(
        &self,
        lead: impl Into<Bytes>,
        request_id: &str,
        idempotency_key: Option<&str>,
    ) -> Result<u16, UpstreamError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let token = match &self.oauth {
            Some(oauth) => Some(
                tokio::time::timeout_at(deadline, oauth.token(&self.client))
                    .await
                    .map_err(|_| UpstreamError::Timeout)??,
            ),
            None => None,
        };
        let mut request = Request::post(self.uri.clone());
        if let Some(headers) = request.headers_mut() {
            headers.clone_from(&self.headers);
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            if let Ok(id) = HeaderValue::from_str(request_id) {
                headers.insert(HeaderName::from_static("x-request-id"), id);
            }
            if let Some(key) = idempotency_key.and_then(|k| HeaderValue::from_str(k).ok()) {
                headers.insert(HeaderName::from_static("idempotency-key"), key);
            }
            if let Some(token) = &token {
                headers.insert(AUTHORIZATION, token.clone());
            }
        }
        let request = request
            .body(Full::new(lead.into()))
            .map_err(|_| UpstreamError::Unreachable)?;
        let (status, retry_after) = tokio::time::timeout_at(deadline, async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    UpstreamError::Unreachable
                } else {
                    UpstreamError::Broken
                }
            })?;
            let status = response.status();
            let retry_after = retry_after(status, response.headers());
            // Read the answer so the connection can be reused; it is not
            // passed on.
            let _ = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            Ok::<_, UpstreamError>((status, retry_after))
        })
        .await
        .map_err(|_| UpstreamError::Timeout)??;
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            if status == hyper::StatusCode::UNAUTHORIZED
                && let Some(oauth) = &self.oauth
            {
                oauth.forget().await;
            }
            Err(UpstreamError::Status {
                status: status.as_u16(),
                retry_after,
            })
        }
    }
}

/// The longest wait passed on from an upstream's `Retry-After`: a day.
const MAX_RETRY_AFTER: u64 = 86_400;

/// An upstream's `Retry-After` on a 429 or 503, in seconds (at least 1, at
/// most a day): delta-seconds or an HTTP date.
fn retry_after(status: hyper::StatusCode, headers: &HeaderMap) -> Option<u64> {
    if status != hyper::StatusCode::TOO_MANY_REQUESTS
        && status != hyper::StatusCode::SERVICE_UNAVAILABLE
    {
        return None;
    }
    let value = headers
        .get(hyper::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let seconds = match value.parse::<u64>() {
        Ok(seconds) => seconds,
        Err(_) => httpdate::parse_http_date(value)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .map_or(0, |wait| wait.as_secs()),
    };
    Some(seconds.clamp(1, MAX_RETRY_AFTER))
}

/// Tokens are refreshed this long before they expire.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

impl OAuth {
    /// A cached token, or a new one (one fetch at a time).
    async fn token(&self, client: &HttpsClient) -> Result<HeaderValue, UpstreamError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = &*cached
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let request = Request::post(self.token_uri.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(hyper::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(self.form.clone())))
            .map_err(|_| UpstreamError::Token)?;
        let response = client
            .request(request)
            .await
            .map_err(|_| UpstreamError::Token)?;
        if !response.status().is_success() {
            return Err(UpstreamError::Token);
        }
        let body = Limited::new(response.into_body(), 64 << 10)
            .collect()
            .await
            .map_err(|_| UpstreamError::Token)?
            .to_bytes();
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|_| UpstreamError::Token)?;
        let mut value = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| UpstreamError::Token)?;
        value.set_sensitive(true);
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(300));
        let until = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN);
        *cached = Some((value.clone(), until));
        Ok(value)
    }

    async fn forget(&self) {
        *self.token.lock().await = None;
    }
}
