//! Push against fake registries written here (loopback TCP servers): the auth and redirect
//! flows a real registry cannot be scripted into, and servers that drip or never answer.
//!
//! * Credentials go only to the registry named in the destination and the token service its
//!   own `/v2/` challenge names: a "collector" on another loopback port, reached through an
//!   upload `Location`, a redirect or a later challenge's realm, records every request and must
//!   never see an `Authorization` header.
//! * Every network step is bounded: a server that sends one byte a second, or nothing, makes
//!   push fail with a timeout error within a few seconds (timeout 1 s here).
//! * A build-cache tree (`TreeCache::fetch`) whose blob is larger than declared, or has other
//!   bytes, is refused without more than the declared size reaching the disk.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use pkg_core::sample::lucia_like_plan;
use pkg_core::Arch;
use registry_push::{push, PushError, PushOptions, PushReport};

const USER: &str = "probe";
const PASS: &str = "s3cret-never-elsewhere";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

enum Reply {
    /// status, headers, body
    Full(u16, Vec<(String, String)>, Vec<u8>),
    /// The status line and headers given, then the body one byte a second.
    DripBody(u16, Vec<(String, String)>),
    /// The whole answer one byte a second.
    DripAll,
    /// Nothing at all; the connection stays open.
    Silent,
}

fn reply(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Full(
        status,
        headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body.as_bytes().to_vec(),
    )
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A loopback HTTP/1.1 server: one thread per connection, `Connection: close` answers, every
/// request recorded.
struct Server {
    port: u16,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    fn start(handler: Arc<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l2 = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (h, l) = (handler.clone(), l2.clone());
                std::thread::spawn(move || serve(conn, &*h, &l));
            }
        });
        Server { port, log }
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, handler: &Handler, log: &Mutex<Vec<Request>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    let mut line = String::new();
    // A TLS ClientHello (the HTTPS attempt) is not HTTP: hang up, as a plain-HTTP server would.
    if r.read_line(&mut line).is_err() || !line.starts_with(|c: char| c.is_ascii_uppercase()) {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let req = Request {
        method,
        path,
        headers,
    };
    log.lock().unwrap().push(req.clone());
    let len: u64 = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if std::io::copy(&mut (&mut r).take(len), &mut std::io::sink()).is_err() {
        return;
    }
    let head = |status: u16, hs: &[(String, String)], len: Option<usize>| {
        let mut s = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
        for (k, v) in hs {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(n) = len {
            s.push_str(&format!("Content-Length: {n}\r\n"));
        }
        s.push_str("\r\n");
        s
    };
    let drip = |w: &mut TcpStream, bytes: &[u8]| {
        for b in bytes.iter().take(60) {
            if w.write_all(&[*b]).and_then(|_| w.flush()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    match handler(&req) {
        Reply::Full(status, hs, body) => {
            let n = if req.method == "HEAD" { 0 } else { body.len() };
            let _ = w.write_all(head(status, &hs, Some(n)).as_bytes());
            if req.method != "HEAD" {
                let _ = w.write_all(&body);
            }
        }
        Reply::DripBody(status, hs) => {
            let _ = w.write_all(head(status, &hs, Some(100_000)).as_bytes());
            drip(&mut w, &[b'{'; 100]);
        }
        Reply::DripAll => drip(
            &mut w,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        ),
        Reply::Silent => std::thread::sleep(Duration::from_secs(60)),
    }
}

fn basic() -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASS}"))
    )
}

fn layout(dir: &Path) -> PathBuf {
    let l = dir.join("img");
    format_oci::write_layout(&[lucia_like_plan(Arch::Amd64)], &l).unwrap();
    l
}

fn opts(timeout_secs: u64) -> PushOptions {
    PushOptions {
        credentials: Some((USER.into(), PASS.into())),
        timeout: Some(Duration::from_secs(timeout_secs)),
        ..Default::default()
    }
}

/// Runs a push on a thread and waits at most `limit`: a push that hangs fails the test instead
/// of hanging it.
fn push_within(
    layout: &Path,
    to: String,
    opts: PushOptions,
    limit: Duration,
) -> (Result<PushReport, PushError>, Duration) {
    let (tx, rx) = mpsc::channel();
    let layout = layout.to_path_buf();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = tx.send(push(&layout, &to, opts));
    });
    let r = rx
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("push did not finish within {limit:?}"));
    (r, start.elapsed())
}

/// The collector: records everything; wants credentials for anything (401 with a realm on
/// itself, and its token endpoint issues tokens only for Basic credentials).
fn collector() -> Server {
    let port = Arc::new(Mutex::new(0u16));
    let p2 = port.clone();
    let s = Server::start(Arc::new(move |req: &Request| {
        let me = *p2.lock().unwrap();
        if req.path.starts_with("/token") && req.header("authorization").is_some() {
            return reply(200, &[], r#"{"token":"stolen"}"#);
        }
        let realm = format!(r#"Bearer realm="http://127.0.0.1:{me}/token",service="collector""#);
        reply(401, &[("WWW-Authenticate", realm.as_str())], "")
    }));
    *port.lock().unwrap() = s.port;
    s
}

fn assert_never_saw_authorization(c: &Server) {
    let reqs = c.requests();
    assert!(!reqs.is_empty(), "the collector was never contacted");
    for r in &reqs {
        assert!(
            r.header("authorization").is_none(),
            "the collector got credentials: {} {} {:?}",
            r.method,
            r.path,
            r.header("authorization")
        );
    }
}

/// A registry with Basic auth whose blob uploads go to `upload_to` and whose blob HEADs answer
/// with `head` once authenticated.
fn basic_registry(upload_to: String, head: Arc<dyn Fn() -> Reply + Send + Sync>) -> Server {
    Server::start(Arc::new(move |req: &Request| {
        if req.header("authorization") != Some(basic().as_str()) {
            return reply(401, &[("WWW-Authenticate", r#"Basic realm="fake""#)], "");
        }
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v2/") => reply(200, &[], "{}"),
            ("HEAD", p) if p.contains("/blobs/") => head(),
            ("POST", p) if p.ends_with("/blobs/uploads/") => {
                reply(202, &[("Location", upload_to.as_str())], "")
            }
            ("PUT", p) if p.contains("/manifests/") => reply(201, &[], ""),
            _ => reply(
                404,
                &[],
                r#"{"errors":[{"code":"NOT_FOUND","message":"fake"}]}"#,
            ),
        }
    }))
}

#[test]
fn an_upload_location_on_another_host_never_gets_credentials() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    let c = collector();
    let reg = basic_registry(
        format!("http://127.0.0.1:{}/upload/1?sig=abc", c.port),
        Arc::new(|| reply(404, &[], "")),
    );
    let (r, _) = push_within(
        &l,
        format!("127.0.0.1:{}/lucia/agenthost:1.0.0", reg.port),
        opts(5),
        Duration::from_secs(60),
    );
    let e = r.unwrap_err();
    assert!(matches!(e, PushError::ForeignAuth { .. }), "{e:?}");
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{}/upload/1", c.port))
            && msg.contains("demands authentication")
            && msg.contains(&format!("127.0.0.1:{}", reg.port))
            && !msg.contains("sig=abc")
            && !msg.contains(PASS),
        "{msg}"
    );
    assert_never_saw_authorization(&c);
    // The registry itself did get the credentials.
    assert!(reg
        .requests()
        .iter()
        .any(|r| r.header("authorization") == Some(basic().as_str())));
}

#[test]
fn a_later_challenge_naming_another_host_as_realm_gets_no_credentials() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    let c = collector();
    // /v2/ challenges Basic; a blob HEAD then challenges Bearer with the collector as realm.
    let realm = format!(
        r#"Bearer realm="http://127.0.0.1:{}/token",service="x""#,
        c.port
    );
    let reg = basic_registry(
        "/unused".into(),
        Arc::new(move || reply(401, &[("WWW-Authenticate", realm.as_str())], "")),
    );
    let (r, _) = push_within(
        &l,
        format!("127.0.0.1:{}/lucia/agenthost:1.0.0", reg.port),
        opts(5),
        Duration::from_secs(60),
    );
    let e = r.unwrap_err();
    assert!(matches!(e, PushError::ForeignAuth { .. }), "{e:?}");
    assert!(
        e.to_string()
            .contains(&format!("http://127.0.0.1:{}/token", c.port)),
        "{e}"
    );
    assert_never_saw_authorization(&c);
    assert!(c.requests().iter().any(|r| r.path.starts_with("/token")));
}

#[test]
fn redirects_to_other_hosts_carry_no_authorization_and_the_v2_realm_gets_credentials() {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    // Object storage: answers HEAD 404 and accepts PUTs; records everything.
    let store = Server::start(Arc::new(|req: &Request| match req.method.as_str() {
        "PUT" => reply(201, &[], ""),
        _ => reply(404, &[], ""),
    }));
    let sp = store.port;
    let port = Arc::new(Mutex::new(0u16));
    let p2 = port.clone();
    // A registry with a Bearer token service on itself (named by its /v2/ challenge) that
    // redirects blob HEADs and upload PUTs to the store.
    let reg = Server::start(Arc::new(move |req: &Request| {
        let me = *p2.lock().unwrap();
        if req.path.starts_with("/token") {
            return if req.header("authorization") == Some(basic().as_str()) {
                reply(200, &[], r#"{"token":"t0k"}"#)
            } else {
                reply(401, &[], "")
            };
        }
        if req.header("authorization") != Some("Bearer t0k") {
            let ch = format!(r#"Bearer realm="http://127.0.0.1:{me}/token",service="fake""#);
            return reply(401, &[("WWW-Authenticate", ch.as_str())], "");
        }
        let to_store = format!("http://127.0.0.1:{sp}/object?sig=1");
        match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/v2/") => reply(200, &[], "{}"),
            ("HEAD", p) if p.contains("/blobs/") => {
                reply(307, &[("Location", to_store.as_str())], "")
            }
            ("POST", p) if p.ends_with("/blobs/uploads/") => reply(
                202,
                &[("Location", "/v2/lucia/agenthost/blobs/uploads/u1")],
                "",
            ),
            ("PUT", p) if p.contains("/blobs/uploads/u1") => {
                reply(307, &[("Location", to_store.as_str())], "")
            }
            ("PUT", p) if p.contains("/manifests/") => reply(201, &[], ""),
            _ => reply(404, &[], ""),
        }
    }));
    *port.lock().unwrap() = reg.port;
    let (r, _) = push_within(
        &l,
        format!("127.0.0.1:{}/lucia/agenthost:1.0.0", reg.port),
        opts(5),
        Duration::from_secs(60),
    );
    let report = r.unwrap();
    assert!(report.blobs_uploaded > 0, "{report:?}");
    let stored = store.requests();
    assert!(stored.iter().any(|r| r.method == "PUT"), "{stored:?}");
    assert!(stored.iter().any(|r| r.method == "HEAD"), "{stored:?}");
    for r in &stored {
        assert!(
            r.header("authorization").is_none(),
            "{} {}: {:?}",
            r.method,
            r.path,
            r.header("authorization")
        );
    }
    let regs = reg.requests();
    assert!(regs.iter().any(
        |r| r.path.starts_with("/token") && r.header("authorization") == Some(basic().as_str())
    ));
    assert!(regs
        .iter()
        .any(|r| r.path.contains("/blobs/uploads/u1")
            && r.header("authorization") == Some("Bearer t0k")));
}

fn assert_times_out(server: &Server, what: &str) {
    let t = tempfile::tempdir().unwrap();
    let l = layout(t.path());
    let (r, took) = push_within(
        &l,
        format!("127.0.0.1:{}/lucia/agenthost:1.0.0", server.port),
        opts(1),
        Duration::from_secs(40),
    );
    let e = r.unwrap_err();
    assert!(matches!(e, PushError::Transport { .. }), "{what}: {e:?}");
    assert_eq!(e.exit_code(), 1);
    let msg = e.to_string();
    assert!(
        msg.contains("timed out") && msg.contains("LUCIA_PKG_REGISTRY_TIMEOUT"),
        "{what}: {msg}"
    );
    // 1 s per step; HTTPS then HTTP attempts, a token request: well under 15 s.
    assert!(took < Duration::from_secs(15), "{what}: took {took:?}");
}

#[test]
fn a_registry_that_drips_its_answer_times_out() {
    let s = Server::start(Arc::new(|_: &Request| Reply::DripAll));
    assert_times_out(&s, "drip");
}

#[test]
fn a_registry_that_never_answers_times_out() {
    let s = Server::start(Arc::new(|_: &Request| Reply::Silent));
    assert_times_out(&s, "silent");
}

#[test]
fn a_token_service_that_drips_its_body_times_out() {
    let port = Arc::new(Mutex::new(0u16));
    let p2 = port.clone();
    let s = Server::start(Arc::new(move |req: &Request| {
        let me = *p2.lock().unwrap();
        if req.path.starts_with("/token") {
            return Reply::DripBody(
                200,
                vec![("Content-Type".into(), "application/json".into())],
            );
        }
        let ch = format!(r#"Bearer realm="http://127.0.0.1:{me}/token",service="fake""#);
        reply(401, &[("WWW-Authenticate", ch.as_str())], "")
    }));
    *port.lock().unwrap() = s.port;
    assert_times_out(&s, "token body drip");
}

/// A cache tree (`TreeCache::fetch`) from a registry that lies about a blob: a body far larger
/// than the descriptor is cut off after the declared size (nothing more reaches the disk), and a
/// body of the right size with other bytes is refused by its digest. Both are `Unusable` (the
/// entry is refused; the registry itself answered).
#[test]
fn a_cache_blob_larger_than_declared_or_with_other_bytes_is_refused() {
    use sha2::{Digest, Sha256};
    let declared = b"12345678".to_vec();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&declared)));
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": registry_push::MT_TREE,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2,
                   "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
        "layers": [{"mediaType": registry_push::MT_FILE, "digest": digest, "size": 8,
                    "annotations": {"org.opencontainers.image.title": "f", "dev.lucia-pkg.mode": "0644"}}],
        "annotations": {"dev.lucia-pkg.dirs": "[]", "dev.lucia-pkg.symlinks": "{}"},
    })
    .to_string();
    for (body, want) in [
        (vec![b'x'; 5 << 20], "larger than its descriptor"),
        (b"87654321".to_vec(), "corrupted or tampered"),
    ] {
        let (m, b) = (manifest.clone(), body.clone());
        let server = Server::start(Arc::new(move |r: &Request| {
            if r.path == "/v2/" {
                reply(200, &[], "{}")
            } else if r.path.contains("/manifests/") {
                Reply::Full(
                    200,
                    vec![(
                        "Content-Type".into(),
                        "application/vnd.oci.image.manifest.v1+json".into(),
                    )],
                    m.clone().into_bytes(),
                )
            } else if r.path.contains("/blobs/") {
                Reply::Full(200, vec![], b.clone())
            } else {
                reply(404, &[], "")
            }
        }));
        let cache = registry_push::TreeCache::connect(
            &format!("127.0.0.1:{}/ci/cache", server.port),
            false,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let e = cache.fetch("sometag", dir.path()).unwrap_err();
        assert!(
            matches!(e, PushError::Unusable { .. }) && e.to_string().contains(want),
            "{e}"
        );
        let written = std::fs::metadata(dir.path().join("f")).map_or(0, |m| m.len());
        assert!(written <= 8, "{written} bytes reached the disk");
    }
}
