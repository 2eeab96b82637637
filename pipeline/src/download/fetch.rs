//! The downloader: one HTTP GET per sample with a total deadline, retries with
//! backoff for retryable failures only (honouring `Retry-After`), redirects
//! followed by hand (each hop's address checked), a maximum body size,
//! `X-Robots-Tag` opt-outs checked before the body is read, and a per-host
//! concurrency limit.

use std::collections::{HashMap, HashSet};
use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, CONTENT_LENGTH, LOCATION, RETRY_AFTER};
use reqwest::redirect::Policy;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::{Host, Url};

use super::dns::{is_public, DnsFailure, ForbiddenAddress, GuardedResolver};
use super::status::{Failure, FailureClass};

/// The default user agent: names the project and where to read about it.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "witcurate/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/witcurate/witcurate)"
);

/// The token `X-Robots-Tag` directives may be addressed to (`witcurate: noai`).
pub const ROBOTS_TOKEN: &str = "witcurate";

/// `X-Robots-Tag` directives that opt an image out of dataset use.
pub const OPT_OUT_DIRECTIVES: [&str; 4] = ["noai", "noimageai", "noindex", "noimageindex"];

fn default_directives() -> Vec<String> {
    OPT_OUT_DIRECTIVES.iter().map(|d| d.to_string()).collect()
}

/// Network settings.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FetchConfig {
    /// Total deadline of one attempt: connect, every redirect hop, headers and body.
    pub timeout: Duration,
    /// How many times a retryable failure is tried again.
    pub retries: u32,
    /// First backoff delay; doubled on each retry.
    pub backoff: Duration,
    /// The longest wait a `Retry-After` may ask for; longer asks are not retried.
    pub max_retry_wait: Duration,
    /// Redirect hops followed at most.
    pub max_redirects: usize,
    /// Bodies larger than this fail with `body_too_large`.
    pub max_body_bytes: u64,
    /// Allow loopback/private/special addresses (off by default).
    pub allow_private: bool,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Honour `X-Robots-Tag` opt-outs.
    pub respect_robots: bool,
    /// A further user-agent token `X-Robots-Tag` directives may be
    /// addressed to (img2dataset's `user_agent_token`), besides
    /// [`ROBOTS_TOKEN`]; lowercase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub robots_token: Option<String>,
    /// The directives that opt out (default [`OPT_OUT_DIRECTIVES`]); lowercase.
    #[serde(default = "default_directives")]
    pub disallowed_directives: Vec<String>,
    /// Concurrent requests to one host at most.
    pub per_host: usize,
    /// DNS cache entries.
    pub dns_cache_size: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(20),
            retries: 2,
            backoff: Duration::from_millis(500),
            max_retry_wait: Duration::from_secs(30),
            max_redirects: 5,
            max_body_bytes: 32 << 20,
            allow_private: false,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            respect_robots: true,
            robots_token: None,
            disallowed_directives: default_directives(),
            per_host: 16,
            dns_cache_size: 1 << 16,
        }
    }
}

/// An attempt's failure, with the server's `Retry-After` when it sent one.
struct AttemptError {
    failure: Failure,
    retry_after: Option<Duration>,
}

impl From<Failure> for AttemptError {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            retry_after: None,
        }
    }
}

/// The HTTP client of a download job. Cheap to share behind an `Arc`.
pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Holds a per-host slot; frees the host's entry when it is the last user.
struct HostSlot<'a> {
    fetcher: &'a Fetcher,
    host: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for HostSlot<'_> {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut hosts = self.fetcher.hosts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sem) = hosts.get(&self.host) {
            if Arc::strong_count(sem) == 1 {
                hosts.remove(&self.host);
            }
        }
    }
}

impl Fetcher {
    /// Builds the client. Must be called inside a tokio runtime.
    pub fn new(cfg: FetchConfig) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(
                cfg.allow_private,
                cfg.dns_cache_size,
            )))
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(cfg.per_host.max(1))
            .pool_idle_timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self {
            client,
            cfg,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    async fn host_slot(&self, host: &str) -> HostSlot<'_> {
        let sem = {
            let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
            hosts
                .entry(host.to_string())
                .or_insert_with(|| Arc::new(Semaphore::new(self.cfg.per_host.max(1))))
                .clone()
        };
        let permit = sem.acquire_owned().await.ok();
        HostSlot {
            fetcher: self,
            host: host.to_string(),
            permit,
        }
    }

    /// Downloads `raw_url`, retrying retryable failures; returns the body.
    pub async fn fetch(&self, raw_url: &str) -> Result<Vec<u8>, Failure> {
        let url = parse_url(raw_url)?;
        let host_key = match (url.host_str(), url.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let mut attempt = 0u32;
        loop {
            let result = {
                let _slot = self.host_slot(&host_key).await;
                match tokio::time::timeout(self.cfg.timeout, self.attempt(&url)).await {
                    Ok(r) => r,
                    Err(_) => Err(AttemptError::from(Failure::new(
                        FailureClass::Timeout,
                        format!("no complete response within {:?}", self.cfg.timeout),
                    ))),
                }
            };
            let err = match result {
                Ok(bytes) => return Ok(bytes),
                Err(e) => e,
            };
            if !err.failure.class.is_retryable() || attempt >= self.cfg.retries {
                return Err(with_attempts(err.failure, attempt + 1));
            }
            let wait = match err.retry_after {
                Some(w) if w > self.cfg.max_retry_wait => {
                    let mut f = err.failure;
                    f.message
                        .push_str(&format!(" (Retry-After {w:?} is beyond the longest wait)"));
                    return Err(with_attempts(f, attempt + 1));
                }
                Some(w) => w,
                None => self.cfg.backoff.saturating_mul(1 << attempt.min(16)),
            };
            log::debug!("{raw_url}: {} ; retrying in {wait:?}", err.failure);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt: follows redirects by hand, checks every hop.
    async fn attempt(&self, start: &Url) -> Result<Vec<u8>, AttemptError> {
        let mut url = start.clone();
        let mut seen: HashSet<Url> = HashSet::new();
        for _hop in 0..=self.cfg.max_redirects {
            self.check_literal_address(&url)?;
            seen.insert(url.clone());
            let resp = self
                .client
                .get(url.clone())
                .header(reqwest::header::ACCEPT, "image/*,*/*;q=0.5")
                .send()
                .await
                .map_err(|e| AttemptError::from(classify_transport(&e)))?;
            let status = resp.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        Failure::new(
                            FailureClass::Http(status.as_u16()),
                            format!("redirect from {url} without a usable Location header"),
                        )
                    })?;
                let mut next = url.join(location).map_err(|e| {
                    Failure::new(
                        FailureClass::InvalidUrl,
                        format!("redirect from {url} to invalid {location:?}: {e}"),
                    )
                })?;
                check_scheme(&next)?;
                strip_userinfo(&mut next);
                if seen.contains(&next) {
                    return Err(Failure::new(
                        FailureClass::RedirectLoop,
                        format!("{url} redirects back to {next}"),
                    )
                    .into());
                }
                url = next;
                continue;
            }
            if !status.is_success() {
                let retry_after = parse_retry_after(resp.headers());
                return Err(AttemptError {
                    failure: Failure::new(
                        FailureClass::Http(status.as_u16()),
                        format!("{url} answered {status}"),
                    ),
                    retry_after,
                });
            }
            if self.cfg.respect_robots {
                if let Some(directive) = robots_opt_out(
                    resp.headers(),
                    self.cfg.robots_token.as_deref(),
                    &self.cfg.disallowed_directives,
                ) {
                    return Err(Failure::new(
                        FailureClass::RobotsOptOut,
                        format!("X-Robots-Tag: {directive}"),
                    )
                    .into());
                }
            }
            return self.read_body(resp).await;
        }
        Err(Failure::new(
            FailureClass::TooManyRedirects,
            format!(
                "more than {} redirects from {start}",
                self.cfg.max_redirects
            ),
        )
        .into())
    }

    async fn read_body(&self, mut resp: reqwest::Response) -> Result<Vec<u8>, AttemptError> {
        let max = self.cfg.max_body_bytes;
        let announced = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(len) = announced {
            if len > max {
                return Err(Failure::new(
                    FailureClass::BodyTooLarge,
                    format!("Content-Length {len} exceeds --max-body-bytes {max}"),
                )
                .into());
            }
        }
        let mut body = Vec::with_capacity(announced.unwrap_or(64 << 10).min(max) as usize);
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| AttemptError::from(classify_transport(&e)))?
        {
            if body.len() as u64 + chunk.len() as u64 > max {
                return Err(Failure::new(
                    FailureClass::BodyTooLarge,
                    format!("body exceeds --max-body-bytes {max}"),
                )
                .into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// IP-literal hosts bypass the resolver, so they are checked here.
    fn check_literal_address(&self, url: &Url) -> Result<(), Failure> {
        if self.cfg.allow_private {
            return Ok(());
        }
        let ip: Option<IpAddr> = match url.host() {
            Some(Host::Ipv4(v4)) => Some(v4.into()),
            Some(Host::Ipv6(v6)) => Some(v6.into()),
            _ => None,
        };
        match ip {
            Some(ip) if !is_public(ip) => Err(Failure::new(
                FailureClass::ForbiddenAddress,
                format!(
                    "{url}: {ip} is not a public address (use --allow-private-addresses to allow)"
                ),
            )),
            _ => Ok(()),
        }
    }
}

fn with_attempts(mut f: Failure, attempts: u32) -> Failure {
    if attempts > 1 {
        f.message.push_str(&format!(" (after {attempts} attempts)"));
    }
    f
}

fn check_scheme(url: &Url) -> Result<(), Failure> {
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(()),
        "http" | "https" => Err(Failure::new(
            FailureClass::InvalidUrl,
            format!("{url}: no host"),
        )),
        other => Err(Failure::new(
            FailureClass::InvalidUrl,
            format!("{url}: scheme {other:?} is not http or https"),
        )),
    }
}

/// Parses a sample's URL: absolute http(s) with a host, else `invalid_url`.
/// Credentials in the URL (`http://user:pass@host/`) are removed: the HTTP
/// client would turn them into an `Authorization` header, and a dataset's
/// images are fetched as anyone would fetch them.
pub fn parse_url(raw: &str) -> Result<Url, Failure> {
    let mut url = Url::parse(raw.trim())
        .map_err(|e| Failure::new(FailureClass::InvalidUrl, format!("{raw:?}: {e}")))?;
    check_scheme(&url)?;
    strip_userinfo(&mut url);
    Ok(url)
}

/// Removes the user name and password of `url`, logging that it did.
fn strip_userinfo(url: &mut Url) {
    if !url.username().is_empty() || url.password().is_some() {
        log::debug!(
            "{}: credentials in the URL are not sent",
            url.host_str().unwrap_or("")
        );
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
}

/// The `Retry-After` delay, when given in seconds.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs)
}

/// The first `X-Robots-Tag` value with one of `directives` (lowercase) for us.
///
/// Directives may be scoped to a user agent (`otherbot: noindex`); scoped
/// ones apply only when the scope is [`ROBOTS_TOKEN`], `token` or `*`.
pub fn robots_opt_out(
    headers: &HeaderMap,
    token: Option<&str>,
    directives: &[String],
) -> Option<String> {
    for value in headers.get_all("x-robots-tag") {
        let Ok(value) = value.to_str() else { continue };
        let mut applies = true;
        for part in value.split(',') {
            let mut directive = part.trim();
            if let Some((scope, rest)) = directive.split_once(':') {
                let scope = scope.trim().to_ascii_lowercase();
                if !scope.is_empty()
                    && scope != "unavailable_after"
                    && !scope.contains(char::is_whitespace)
                {
                    applies =
                        scope == ROBOTS_TOKEN || scope == "*" || Some(scope.as_str()) == token;
                    directive = rest.trim();
                }
            }
            let directive = directive.to_ascii_lowercase();
            if applies && directives.contains(&directive) {
                return Some(value.to_string());
            }
        }
    }
    None
}

/// Classifies a transport error by walking its causes.
fn classify_transport(e: &reqwest::Error) -> Failure {
    let mut chain = vec![e.to_string()];
    let mut class = None;
    let mut src: Option<&(dyn StdError + 'static)> = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        if class.is_none() {
            if s.downcast_ref::<ForbiddenAddress>().is_some() {
                class = Some(FailureClass::ForbiddenAddress);
            } else if s.downcast_ref::<DnsFailure>().is_some() {
                class = Some(FailureClass::DnsError);
            } else if let Some(io) = s.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::TimedOut {
                    class = Some(FailureClass::Timeout);
                }
            }
        }
        src = s.source();
    }
    let class = class.unwrap_or(if e.is_timeout() {
        FailureClass::Timeout
    } else if e.is_builder() {
        FailureClass::InvalidUrl
    } else {
        FailureClass::NetworkError
    });
    Failure::new(class, chain.join(": "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-robots-tag", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn robots_directives() {
        let defaults = default_directives();
        let robots_opt_out = |h: &HeaderMap| super::robots_opt_out(h, None, &defaults);
        assert!(robots_opt_out(&headers(&["noai"])).is_some());
        assert!(robots_opt_out(&headers(&["nofollow, NoImageIndex"])).is_some());
        assert!(robots_opt_out(&headers(&["nofollow", "noindex"])).is_some());
        assert!(robots_opt_out(&headers(&["witcurate: noimageai"])).is_some());
        assert!(robots_opt_out(&headers(&["otherbot: noindex, noai"])).is_none());
        assert!(robots_opt_out(&headers(&["nofollow, noarchive"])).is_none());
        assert!(
            robots_opt_out(&headers(&["unavailable_after: 25 Jun 2010 15:00:00 PST"])).is_none()
        );
        assert!(robots_opt_out(&HeaderMap::new()).is_none());
        // img2dataset's user_agent_token and disallowed_header_directives.
        let only_noai = vec!["noai".to_string()];
        let h = headers(&["mybot: noai"]);
        assert!(super::robots_opt_out(&h, Some("mybot"), &only_noai).is_some());
        assert!(super::robots_opt_out(&h, None, &only_noai).is_none());
        let h = headers(&["noindex"]);
        assert!(super::robots_opt_out(&h, Some("mybot"), &only_noai).is_none());
    }

    #[test]
    fn urls_are_checked() {
        for bad in [
            "www.example.com/a.jpg",
            "http://exa mple.com/a.jpg",
            "ftp://example.com/a.jpg",
            "data:image/png;base64,AAAA",
            "",
        ] {
            assert_eq!(
                parse_url(bad).unwrap_err().class,
                FailureClass::InvalidUrl,
                "{bad}"
            );
        }
        assert!(parse_url(" http://example.com/a b.jpg ").is_ok());
        // Credentials are never sent.
        let u = parse_url("http://user:secret@example.com/a.jpg").unwrap();
        assert_eq!(u.as_str(), "http://example.com/a.jpg");
        assert_eq!(
            parse_url("https://token@example.com/a.jpg")
                .unwrap()
                .as_str(),
            "https://example.com/a.jpg"
        );
    }
}
