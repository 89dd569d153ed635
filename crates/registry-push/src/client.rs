//! A blocking registry client: base URL selection (HTTPS; plain HTTP only for loopback or when
//! allowed), authentication (anonymous, Basic, Bearer token) and request retry after a challenge.
//!
//! The HTTP client is `ureq`: a push is a handful of sequential requests, so an async stack
//! (oci-client: tokio + reqwest + aws-lc-rs, a C/cmake build; the project's research notes,
//! ../shared/research/crates.md §3, outside this repository) buys nothing here.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use base64::Engine;
use ureq::http::{Response, Uri};
use ureq::{Agent, Body};

use crate::auth::{parse_challenge, url_encode};
use crate::creds::Credentials;
use crate::reference::{is_loopback, Destination};
use crate::PushError;

/// Largest error or token body we read.
const MAX_SMALL_BODY: u64 = 1 << 20;
/// Redirects followed per request.
const MAX_REDIRECTS: usize = 5;
/// The slowest upload rate a request body is given time for (on top of 4 × the I/O timeout).
const MIN_UPLOAD_RATE: u64 = 64 * 1024;
/// The default of `LUCIA_PKG_REGISTRY_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Auth {
    Anonymous,
    Basic(String),
    Bearer(String),
}

/// `scheme://host:port` of a URL (default ports filled in, host lower-cased, no brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "https" => 443,
            "http" => 80,
            _ => return None,
        };
        let host = uri
            .host()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        Some(Origin {
            scheme,
            host,
            port: uri.port_u16().unwrap_or(default_port),
        })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// A URL without its query (signed upload URLs carry secrets there) for messages.
fn display_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Resolves a `Location` against the URL it was received from.
pub fn join_url(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if let Some(l) = location.strip_prefix("//") {
        format!("{scheme}://{l}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = display_url(&rest[authority.len()..]);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        format!("{scheme}://{authority}{dir}/{location}")
    }
}

pub struct Client {
    agent: Agent,
    pub base: String,
    /// The registry the user named: the only origin requests carry credentials or tokens to.
    origin: Origin,
    /// The token service the registry's own `/v2/` challenge named: may receive credentials.
    realm_origin: Option<Origin>,
    dest: Destination,
    creds: Option<Credentials>,
    auth: Auth,
    insecure_http: bool,
    timeout: Duration,
}

/// Opens a request body afresh: (reader, length).
pub type OpenBody<'a> = dyn Fn() -> Result<(Box<dyn Read>, u64), PushError> + 'a;

/// What a request needs to be sent again after authenticating.
pub struct Req<'a> {
    pub method: &'a str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    /// Opens the body afresh for each attempt: (reader, length).
    pub body: Option<&'a OpenBody<'a>>,
    /// The size of the answer's body when it is large (a blob being fetched), so that reading
    /// it is given time at [`MIN_UPLOAD_RATE`] like an upload; 0 for small answers.
    pub response_len: u64,
}

/// Every network step is bounded by `timeout`: resolving, connecting (TCP and TLS), sending the
/// request, receiving the response head, each read or write that makes no progress, and reading
/// a (small) body in total; each request as a whole by [`Client::deadline`]. Redirects are
/// followed by [`Client::send`] itself, so it decides where `Authorization` goes.
fn agent(loopback: bool, timeout: Duration) -> Agent {
    let t = Some(timeout);
    let mut cfg = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_resolve(t)
        .timeout_connect(t)
        .timeout_send_request(t)
        .timeout_await_100(Some(timeout.min(Duration::from_secs(1))))
        .timeout_recv_response(t)
        .timeout_recv_body(t)
        .timeout_per_read(t)
        .timeout_per_write(t)
        .timeout_per_call(Some(timeout * 4))
        .user_agent(concat!("lucia-pkg/", env!("CARGO_PKG_VERSION")));
    if loopback {
        // A proxy from the environment must not intercept a registry on this machine.
        cfg = cfg.proxy(None);
    }
    cfg.build().new_agent()
}

/// A transport error as a message a user can act on (timeouts say which step and how long).
fn transport_error(what: String, e: ureq::Error, timeout: Duration) -> PushError {
    let message = match e {
        ureq::Error::Timeout(step) => format!(
            "timed out ({step}) after {:.1} s: the registry did not answer in time; set LUCIA_PKG_REGISTRY_TIMEOUT=SECONDS to wait longer",
            timeout.as_secs_f64()
        ),
        e => e.to_string(),
    };
    PushError::Transport { what, message }
}

/// The body of a small answer (an error or a token), at most 1 MiB, bounded in time.
pub fn read_small_checked(resp: &mut Response<Body>) -> Result<String, ureq::Error> {
    resp.body_mut()
        .with_config()
        .limit(MAX_SMALL_BODY)
        .lossy_utf8(true)
        .read_to_string()
}

/// [`read_small_checked`] for error messages: a body that cannot be read is described instead.
pub fn read_small(resp: &mut Response<Body>) -> String {
    match read_small_checked(resp) {
        Ok(s) => s,
        Err(ureq::Error::Timeout(step)) => {
            format!("(the error body did not arrive in time: {step} timeout)")
        }
        Err(e) => format!("(the error body could not be read: {e})"),
    }
}

/// The distribution error body (`{"errors":[{"code","message"}]}`) as one line.
pub fn error_text(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    if let Some(errs) = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
    {
        let parts: Vec<String> = errs
            .iter()
            .map(|e| {
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                format!("{code}: {msg}")
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    body.chars()
        .take(300)
        .collect::<String>()
        .trim()
        .to_string()
}

pub fn header(resp: &Response<Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl Client {
    /// Finds the registry's API (HTTPS first; plain HTTP only where allowed) and authenticates.
    pub fn connect(
        dest: &Destination,
        creds: Option<Credentials>,
        insecure_http: bool,
        timeout: Duration,
    ) -> Result<Client, PushError> {
        let loopback = is_loopback(&dest.host);
        let agent = agent(loopback, timeout);
        let https = format!("https://{}", dest.registry);
        let http = format!("http://{}", dest.registry);
        let bad_host =
            || PushError::BadReference(format!("`{}` is not a valid registry host", dest.registry));
        let mut c = Client {
            agent,
            origin: Origin::of(&https).ok_or_else(bad_host)?,
            base: https.clone(),
            realm_origin: None,
            dest: dest.clone(),
            creds,
            auth: Auth::Anonymous,
            insecure_http,
            timeout,
        };
        let v2 = |base: &str| Req {
            method: "GET",
            url: format!("{base}/v2/"),
            headers: vec![],
            body: None,
            response_len: 0,
        };
        let (mut resp, at) = match c.send_following(&v2(&https)) {
            Ok(r) => r,
            Err(tls_err) if loopback || insecure_http => {
                c.base = http.clone();
                c.origin = Origin::of(&http).ok_or_else(bad_host)?;
                match c.send_following(&v2(&http)) {
                    Ok(r) => r,
                    Err(e) => {
                        return Err(PushError::Transport {
                            what: format!("connecting to {}", dest.registry),
                            message: format!("https: {tls_err}; http: {e}"),
                        })
                    }
                }
            }
            Err(e) => {
                return Err(PushError::Transport {
                    what: format!("connecting to https://{}", dest.registry),
                    message: format!(
                    "{e} (plain HTTP is only used for loopback registries or with --insecure-http)"
                ),
                })
            }
        };
        match resp.status().as_u16() {
            200 => Ok(c),
            401 => {
                if Origin::of(&at).as_ref() != Some(&c.origin) {
                    return Err(c.foreign_auth(&at));
                }
                // The registry's own challenge: the token service it names is trusted.
                c.realm_origin = header(&resp, "www-authenticate")
                    .and_then(|h| parse_challenge(&h))
                    .and_then(|ch| ch.params.get("realm").and_then(|r| Origin::of(r)));
                c.authenticate(&mut resp)?;
                // Check the credentials now, so a wrong password fails before any upload.
                let mut again = c.send(&v2(&c.base.clone()))?;
                match again.status().as_u16() {
                    200 => Ok(c),
                    401 | 403 => Err(c.unauthorized(&mut again)),
                    s => Err(PushError::Http {
                        what: "GET /v2/".into(),
                        status: s,
                        message: error_text(&read_small(&mut again)),
                    }),
                }
            }
            s => Err(PushError::Http {
                what: format!("GET {}/v2/ (is this an OCI registry?)", c.base),
                status: s,
                message: error_text(&read_small(&mut resp)),
            }),
        }
    }

    fn unauthorized(&self, resp: &mut Response<Body>) -> PushError {
        let detail = error_text(&read_small(resp));
        match &self.creds {
            Some(c) => PushError::Unauthorized {
                registry: self.dest.registry.clone(),
                user: c.user.clone(),
                detail,
            },
            None => PushError::AuthRequired {
                registry: self.dest.registry.clone(),
            },
        }
    }

    /// A host other than the registry demanded authentication.
    fn foreign_auth(&self, url: &str) -> PushError {
        PushError::ForeignAuth {
            url: display_url(url).to_string(),
            registry: self.dest.registry.clone(),
        }
    }

    /// Whether `origin` may be sent the user's credentials: the registry itself (same scheme,
    /// host and port) or the token service the registry's own `/v2/` challenge named.
    fn trusted_for_credentials(&self, origin: &Origin) -> bool {
        origin == &self.origin || self.realm_origin.as_ref() == Some(origin)
    }

    /// Whether plain HTTP to `origin` is acceptable.
    fn plain_ok(&self, origin: &Origin) -> bool {
        origin.scheme == "https" || self.insecure_http || is_loopback(&origin.host)
    }

    /// Sets up auth from a 401's challenge (a 401 from the registry itself).
    fn authenticate(&mut self, resp: &mut Response<Body>) -> Result<(), PushError> {
        let challenge = header(resp, "www-authenticate").and_then(|h| parse_challenge(&h));
        let Some(ch) = challenge else {
            return Err(PushError::Http {
                what: format!(
                    "{}: 401 without a WWW-Authenticate challenge",
                    self.dest.registry
                ),
                status: 401,
                message: error_text(&read_small(resp)),
            });
        };
        match ch.scheme.as_str() {
            "basic" => {
                let c = self.creds.as_ref().ok_or_else(|| PushError::AuthRequired {
                    registry: self.dest.registry.clone(),
                })?;
                let token = base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", c.user, c.password));
                self.auth = Auth::Basic(format!("Basic {token}"));
                Ok(())
            }
            "bearer" => {
                let realm = ch
                    .params
                    .get("realm")
                    .cloned()
                    .ok_or_else(|| PushError::Http {
                        what: format!("{}: Bearer challenge without a realm", self.dest.registry),
                        status: 401,
                        message: String::new(),
                    })?;
                let realm_origin = Origin::of(&realm).ok_or_else(|| PushError::Http {
                    what: format!("{}: Bearer challenge", self.dest.registry),
                    status: 401,
                    message: format!("the realm `{}` is not an http(s) URL", display_url(&realm)),
                })?;
                let scope = format!("repository:{}:pull,push", self.dest.repository);
                let mut url = format!(
                    "{realm}{}scope={}",
                    if realm.contains('?') { '&' } else { '?' },
                    url_encode(&scope)
                );
                if let Some(s) = ch.params.get("service") {
                    url.push_str(&format!("&service={}", url_encode(s)));
                }
                let realm_shown = display_url(&realm).to_string();
                let trusted = self.trusted_for_credentials(&realm_origin);
                let mut req = self.agent.get(&url);
                let mut sent_credentials = false;
                if let Some(c) = &self.creds {
                    if trusted {
                        if !self.plain_ok(&realm_origin) {
                            return Err(PushError::Insecure(format!(
                                "the token service {realm_shown} is plain HTTP; refusing to send credentials (use --insecure-http to allow)"
                            )));
                        }
                        let b = base64::engine::general_purpose::STANDARD
                            .encode(format!("{}:{}", c.user, c.password));
                        req = req.header("Authorization", format!("Basic {b}"));
                        sent_credentials = true;
                    }
                }
                let timeout = self.timeout;
                let mut resp = req.call().map_err(|e| {
                    transport_error(format!("token from {realm_shown}"), e, timeout)
                })?;
                match resp.status().as_u16() {
                    200 => {}
                    401 | 403 if self.creds.is_some() && !sent_credentials => {
                        return Err(PushError::ForeignAuth {
                            url: realm_shown,
                            registry: self.dest.registry.clone(),
                        })
                    }
                    401 | 403 => return Err(self.unauthorized(&mut resp)),
                    s => {
                        return Err(PushError::Http {
                            what: format!("token from {realm_shown}"),
                            status: s,
                            message: error_text(&read_small(&mut resp)),
                        })
                    }
                }
                let body = read_small_checked(&mut resp).map_err(|e| {
                    transport_error(format!("token from {realm_shown}"), e, timeout)
                })?;
                let v: serde_json::Value =
                    serde_json::from_str(&body).map_err(|e| PushError::Http {
                        what: format!("token from {realm_shown}"),
                        status: 200,
                        message: format!("not JSON: {e}"),
                    })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| PushError::Http {
                        what: format!("token from {realm_shown}"),
                        status: 200,
                        message: "no token in the answer".into(),
                    })?;
                self.auth = Auth::Bearer(format!("Bearer {token}"));
                Ok(())
            }
            other => Err(PushError::Http {
                what: format!(
                    "{}: unsupported authentication scheme `{other}`",
                    self.dest.registry
                ),
                status: 401,
                message: String::new(),
            }),
        }
    }

    /// How long one request may take in total: 4 × the I/O timeout, plus time for the body at
    /// [`MIN_UPLOAD_RATE`].
    fn deadline(&self, body_len: u64) -> Duration {
        self.timeout * 4 + Duration::from_secs(body_len / MIN_UPLOAD_RATE)
    }

    /// One request to `url`, no redirects followed. `Authorization` is attached only when `url`
    /// is on the registry's origin: never to another host an upload `Location` or a redirect
    /// names (e.g. object storage with a signed URL).
    fn send_once(&self, method: &str, url: &str, r: &Req) -> Result<Response<Body>, PushError> {
        let timeout = self.timeout;
        let what = format!("{method} {}", display_url(url));
        let transport = |e: ureq::Error| transport_error(what.clone(), e, timeout);
        let auth = match &self.auth {
            Auth::Basic(h) | Auth::Bearer(h) if Origin::of(url).as_ref() == Some(&self.origin) => {
                Some(h.clone())
            }
            _ => None,
        };
        macro_rules! with_headers {
            ($b:expr, $len:expr) => {{
                let deadline = self.deadline($len);
                let mut b = $b.config().timeout_per_call(Some(deadline));
                if r.response_len > 0 {
                    b = b.timeout_recv_body(Some(deadline));
                }
                let mut b = b.build();
                for (k, v) in &r.headers {
                    b = b.header(*k, v.as_str());
                }
                if let Some(a) = &auth {
                    b = b.header("Authorization", a.as_str());
                }
                b
            }};
        }
        match (method, r.body) {
            ("GET", _) => with_headers!(self.agent.get(url), r.response_len)
                .call()
                .map_err(transport),
            ("HEAD", _) => with_headers!(self.agent.head(url), 0)
                .call()
                .map_err(transport),
            (m, open) => {
                let b = match m {
                    "POST" => self.agent.post(url),
                    "PUT" => self.agent.put(url),
                    "PATCH" => self.agent.patch(url),
                    other => {
                        return Err(PushError::Transport {
                            what: other.into(),
                            message: "unsupported method".into(),
                        })
                    }
                };
                match open {
                    Some(open) => {
                        let (reader, len) = open()?;
                        with_headers!(b, len)
                            .header("Content-Length", len.to_string())
                            .send(ureq::SendBody::from_owned_reader(reader))
                            .map_err(transport)
                    }
                    None => with_headers!(b, 0)
                        .header("Content-Length", "0")
                        .send_empty()
                        .map_err(transport),
                }
            }
        }
    }

    /// Sends a request, following up to 5 redirects (307/308 for every method, 301/302/303 for
    /// GET and HEAD) with the body opened afresh. Returns the answer and the URL it came from.
    fn send_following(&self, r: &Req) -> Result<(Response<Body>, String), PushError> {
        let mut url = r.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_once(r.method, &url, r)?;
            let status = resp.status().as_u16();
            let follow = match status {
                307 | 308 => true,
                301..=303 => matches!(r.method, "GET" | "HEAD"),
                _ => false,
            };
            let location = header(&resp, "location");
            let (true, Some(location)) = (follow, location) else {
                return Ok((resp, url));
            };
            let next = join_url(&url, &location);
            let origin = Origin::of(&next).ok_or_else(|| PushError::Http {
                what: format!("{} {}", r.method, display_url(&url)),
                status,
                message: format!(
                    "redirect to `{}`, which is not an http(s) URL",
                    display_url(&next)
                ),
            })?;
            if !self.plain_ok(&origin) {
                return Err(PushError::Insecure(format!(
                    "{} {} redirects to plain HTTP ({origin}); refusing (use --insecure-http to allow)",
                    r.method,
                    display_url(&url)
                )));
            }
            url = next;
        }
        Err(PushError::Http {
            what: format!("{} {}", r.method, display_url(&r.url)),
            status: 310,
            message: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Sends a request (following redirects); on a 401 from the registry re-authenticates once
    /// (a token may be scoped or expire) and sends it again with a freshly opened body. A 401
    /// from any other host fails: credentials never go there.
    pub fn send(&mut self, r: &Req) -> Result<Response<Body>, PushError> {
        let (mut resp, at) = self.send_following(r)?;
        if resp.status().as_u16() == 401 {
            if Origin::of(&at).as_ref() != Some(&self.origin) {
                return Err(self.foreign_auth(&at));
            }
            self.authenticate(&mut resp)?;
            let (again, at) = self.send_following(r)?;
            resp = again;
            if resp.status().as_u16() == 401 {
                if Origin::of(&at).as_ref() != Some(&self.origin) {
                    return Err(self.foreign_auth(&at));
                }
                return Err(self.unauthorized(&mut resp));
            }
        }
        Ok(resp)
    }

    /// `<base>/v2/<repo>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.dest.repository)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_locations() {
        let o = Origin::of("https://Reg.Example/v2/").unwrap();
        assert_eq!(
            (o.scheme.as_str(), o.host.as_str(), o.port),
            ("https", "reg.example", 443)
        );
        assert_eq!(Origin::of("http://127.0.0.1:5000/x").unwrap().port, 5000);
        assert_eq!(Origin::of("http://[::1]:5000/x").unwrap().host, "::1");
        assert_eq!(
            Origin::of("https://reg.example:443/a"),
            Origin::of("https://reg.example/b")
        );
        assert_ne!(
            Origin::of("http://reg.example/a"),
            Origin::of("https://reg.example/a")
        );
        assert!(Origin::of("ftp://reg.example/a").is_none());
        assert!(Origin::of("/relative").is_none());
        let b = "http://127.0.0.1:5000/v2/a/blobs/uploads/";
        assert_eq!(join_url(b, "/v2/x?s=1"), "http://127.0.0.1:5000/v2/x?s=1");
        assert_eq!(
            join_url(b, "u1"),
            "http://127.0.0.1:5000/v2/a/blobs/uploads/u1"
        );
        assert_eq!(join_url(b, "//other:1/p"), "http://other:1/p");
        assert_eq!(join_url(b, "https://other/p"), "https://other/p");
        assert_eq!(
            display_url("https://s3/x?X-Amz-Signature=secret"),
            "https://s3/x"
        );
    }
}
