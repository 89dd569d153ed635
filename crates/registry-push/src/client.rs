//! A blocking registry client: base URL selection (HTTPS; plain HTTP only for loopback or when
//! allowed), authentication (anonymous, Basic, Bearer token) and request retry after a challenge.
//!
//! The HTTP client is `ureq`: a push is a handful of sequential requests, so an async stack
//! (oci-client: tokio + reqwest + aws-lc-rs, a C/cmake build, crates.md §3) buys nothing here.

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use ureq::http::Response;
use ureq::{Agent, Body};

use crate::auth::{parse_challenge, url_encode};
use crate::creds::Credentials;
use crate::reference::{is_loopback, Destination};
use crate::PushError;

/// Largest error or token body we read.
const MAX_SMALL_BODY: u64 = 1 << 20;

#[derive(Debug, Clone)]
enum Auth {
    Anonymous,
    Basic(String),
    Bearer(String),
}

pub struct Client {
    agent: Agent,
    pub base: String,
    dest: Destination,
    creds: Option<Credentials>,
    auth: Auth,
    insecure_http: bool,
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
}

fn agent(loopback: bool) -> Agent {
    let mut cfg = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(5)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(300)))
        .user_agent(concat!("lucia-pkg/", env!("CARGO_PKG_VERSION")));
    if loopback {
        // A proxy from the environment must not intercept a registry on this machine.
        cfg = cfg.proxy(None);
    }
    cfg.build().new_agent()
}

pub fn read_small(resp: &mut Response<Body>) -> String {
    resp.body_mut()
        .with_config()
        .limit(MAX_SMALL_BODY)
        .lossy_utf8(true)
        .read_to_string()
        .unwrap_or_default()
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
    ) -> Result<Client, PushError> {
        let loopback = is_loopback(&dest.host);
        let agent = agent(loopback);
        let https = format!("https://{}", dest.registry);
        let http = format!("http://{}", dest.registry);
        let first = agent.get(format!("{https}/v2/")).call();
        let (base, resp) = match first {
            Ok(r) => (https, r),
            Err(tls_err) if loopback || insecure_http => {
                match agent.get(format!("{http}/v2/")).call() {
                    Ok(r) => (http, r),
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
        let mut c = Client {
            agent,
            base,
            dest: dest.clone(),
            creds,
            auth: Auth::Anonymous,
            insecure_http,
        };
        let mut resp = resp;
        match resp.status().as_u16() {
            200 => Ok(c),
            401 => {
                c.authenticate(&mut resp)?;
                // Check the credentials now, so a wrong password fails before any upload.
                let mut again = c.send(&Req {
                    method: "GET",
                    url: format!("{}/v2/", c.base),
                    headers: vec![],
                    body: None,
                })?;
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

    /// Sets up auth from a 401's challenge.
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
                let scope = format!("repository:{}:pull,push", self.dest.repository);
                let mut url = format!(
                    "{realm}{}scope={}",
                    if realm.contains('?') { '&' } else { '?' },
                    url_encode(&scope)
                );
                if let Some(s) = ch.params.get("service") {
                    url.push_str(&format!("&service={}", url_encode(s)));
                }
                let realm_plain = realm.starts_with("http://");
                let realm_host = realm
                    .split("://")
                    .nth(1)
                    .and_then(|r| r.split(['/', ':']).next())
                    .unwrap_or("");
                let mut req = self.agent.get(&url);
                if let Some(c) = &self.creds {
                    if realm_plain && !is_loopback(realm_host) && !self.insecure_http {
                        return Err(PushError::Insecure(format!(
                            "the token service {realm} is plain HTTP; refusing to send credentials (use --insecure-http to allow)"
                        )));
                    }
                    let b = base64::engine::general_purpose::STANDARD
                        .encode(format!("{}:{}", c.user, c.password));
                    req = req.header("Authorization", format!("Basic {b}"));
                }
                let mut resp = req.call().map_err(|e| PushError::Transport {
                    what: format!("token from {realm}"),
                    message: e.to_string(),
                })?;
                match resp.status().as_u16() {
                    200 => {}
                    401 | 403 => return Err(self.unauthorized(&mut resp)),
                    s => {
                        return Err(PushError::Http {
                            what: format!("token from {realm}"),
                            status: s,
                            message: error_text(&read_small(&mut resp)),
                        })
                    }
                }
                let body = read_small(&mut resp);
                let v: serde_json::Value =
                    serde_json::from_str(&body).map_err(|e| PushError::Http {
                        what: format!("token from {realm}"),
                        status: 200,
                        message: format!("not JSON: {e}"),
                    })?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .ok_or_else(|| PushError::Http {
                        what: format!("token from {realm}"),
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

    fn send_once(&self, r: &Req) -> Result<Response<Body>, PushError> {
        let transport = |e: ureq::Error| PushError::Transport {
            what: format!("{} {}", r.method, r.url),
            message: e.to_string(),
        };
        // Credentials go only to the registry itself, never to another host an upload
        // `Location` may name (e.g. object storage with a signed URL).
        let same_origin = r.url.starts_with(&format!("{}/", self.base));
        let auth = match &self.auth {
            Auth::Basic(h) | Auth::Bearer(h) if same_origin => Some(h.clone()),
            _ => None,
        };
        macro_rules! with_headers {
            ($b:expr) => {{
                let mut b = $b;
                for (k, v) in &r.headers {
                    b = b.header(*k, v.as_str());
                }
                if let Some(a) = &auth {
                    b = b.header("Authorization", a.as_str());
                }
                b
            }};
        }
        match (r.method, r.body) {
            ("GET", _) => with_headers!(self.agent.get(&r.url))
                .call()
                .map_err(transport),
            ("HEAD", _) => with_headers!(self.agent.head(&r.url))
                .call()
                .map_err(transport),
            (m, open) => {
                let b = match m {
                    "POST" => self.agent.post(&r.url),
                    "PUT" => self.agent.put(&r.url),
                    "PATCH" => self.agent.patch(&r.url),
                    other => {
                        return Err(PushError::Transport {
                            what: other.into(),
                            message: "unsupported method".into(),
                        })
                    }
                };
                let b = with_headers!(b);
                match open {
                    Some(open) => {
                        let (reader, len) = open()?;
                        b.header("Content-Length", len.to_string())
                            .send(ureq::SendBody::from_owned_reader(reader))
                            .map_err(transport)
                    }
                    None => b
                        .header("Content-Length", "0")
                        .send_empty()
                        .map_err(transport),
                }
            }
        }
    }

    /// Sends a request; on a 401 re-authenticates once (a token may be scoped or expire) and
    /// sends it again with a freshly opened body.
    pub fn send(&mut self, r: &Req) -> Result<Response<Body>, PushError> {
        let mut resp = self.send_once(r)?;
        if resp.status().as_u16() == 401 {
            self.authenticate(&mut resp)?;
            resp = self.send_once(r)?;
            if resp.status().as_u16() == 401 {
                return Err(self.unauthorized(&mut resp));
            }
        }
        Ok(resp)
    }

    /// `<base>/v2/<repo>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v2/{}/{path}", self.base, self.dest.repository)
    }

    /// Resolves an upload `Location` (absolute, or a path on the registry).
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            format!("{}/{location}", self.base)
        }
    }
}
