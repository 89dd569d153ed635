//! Demo stand-in for Lucia's AgentHost (the ASP.NET Core `lucia.AgentHost` apphost).
//!
//! It behaves like the real service at the OS boundary, which is all a package has to get right:
//! listens on the first URL of `ASPNETCORE_URLS`, answers `GET`/`HEAD` `/health` and `/alive`
//! with 200 `Healthy`, keeps a small state file in its state directory, logs to stdout and exits 0
//! on SIGTERM/SIGINT. It is std-only and a single file so it builds with plain `rustc` (also
//! Debian's rustc 1.63: keep to language and library features that version has).
//! Build: scripts/build-demo-payload.sh. Docs: docs/real-agenthost.md.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use std::{env, fs, process, thread};

const VERSION: &str = "1.0.0-demo";
const DEFAULT_URLS: &str = "http://0.0.0.0:8080";
const STATE_FILE: &str = "lucia-demo.state";
/// Largest request head we read; bigger requests get 431 (Kestrel's default limit is 32 KiB).
const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; more are answered 503 rather than spawning without bound.
const MAX_CONNS: usize = 64;
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a stop waits for in-flight requests (systemd's TimeoutStopSec is longer).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Accept-loop poll interval: the listener is non-blocking so the stop flag is seen promptly.
const POLL: Duration = Duration::from_millis(50);

/// Set by the signal handler; an atomic store is async-signal-safe.
static STOP: AtomicBool = AtomicBool::new(false);
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

mod sig {
    //! SIGTERM/SIGINT handling without the libc crate: glibc's `signal()` installs a persistent
    //! handler (BSD semantics); the handler only flips atomics, the accept loop does the rest.
    use std::os::raw::c_int;
    use std::sync::atomic::Ordering;

    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15; // same number on x86_64 and aarch64
    const SIG_ERR: usize = !0;

    extern "C" {
        fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    }

    extern "C" fn on_signal(signum: c_int) {
        super::STOP_SIGNAL.store(signum, Ordering::SeqCst);
        super::STOP.store(true, Ordering::SeqCst);
    }

    pub fn install() -> Result<(), String> {
        for s in [SIGTERM, SIGINT] {
            // SAFETY: on_signal is async-signal-safe (two atomic stores) and lives forever.
            if unsafe { signal(s, on_signal) } == SIG_ERR {
                return Err(format!("cannot install handler for signal {}", s));
            }
        }
        Ok(())
    }
}

/// A fatal error: message for stderr and the process exit code (2 = bad configuration).
struct Fatal(i32, String);

fn main() {
    let code = match run(env::args().skip(1).collect()) {
        Ok(()) => 0,
        Err(Fatal(code, msg)) => {
            // stderr only: under systemd stdout and stderr both reach the journal.
            eprintln!("{} fail: lucia.AgentHost (demo): {}", rfc3339_now(), msg);
            code
        }
    };
    process::exit(code);
}

fn run(args: Vec<String>) -> Result<(), Fatal> {
    let mut urls = env::var("ASPNETCORE_URLS").unwrap_or_default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--version" => {
                println!("lucia.AgentHost (demo) {}", VERSION);
                return Ok(());
            }
            "--help" | "-h" => {
                println!(
                    "usage: lucia.AgentHost [--urls URLS] [--version] [--self-test]\n\
                          Demo stand-in for Lucia's AgentHost. Env: ASPNETCORE_URLS (default {}),\n\
                          STATE_DIRECTORY or LUCIA_STATE_DIR (default ./data).",
                    DEFAULT_URLS
                );
                return Ok(());
            }
            "--self-test" => return self_test(),
            // ASP.NET Core also takes the listen URLs on its command line.
            "--urls" => match it.next() {
                Some(u) => urls = u.clone(),
                None => {
                    return Err(Fatal(
                        2,
                        "--urls needs a value, e.g. --urls http://0.0.0.0:8080".into(),
                    ))
                }
            },
            other => {
                return Err(Fatal(
                    2,
                    format!("unknown argument {:?} (try --help)", other),
                ))
            }
        }
    }
    if urls.trim().is_empty() {
        urls = DEFAULT_URLS.to_string();
    }
    let (candidates, ignored) = parse_urls(&urls).map_err(|e| Fatal(2, e))?;
    for u in ignored {
        log(
            "warn",
            &format!("only the first URL is served; ignoring {}", u),
        );
    }
    let dir = state_dir();
    let starts = read_starts(&dir) + 1;
    write_state(&dir, starts, false).map_err(|e| Fatal(1, e))?;
    sig::install().map_err(|e| Fatal(1, e))?;
    let listener = bind(&candidates).map_err(|e| Fatal(1, e))?;
    let local = listener.local_addr().map_err(|e| Fatal(1, e.to_string()))?;
    log(
        "info",
        &format!(
            "lucia.AgentHost (demo) {} pid {} start #{}; state dir {}",
            VERSION,
            process::id(),
            starts,
            dir.display()
        ),
    );
    log("info", &format!("Now listening on: http://{}", local));
    let served = serve(listener);
    let signal = match STOP_SIGNAL.load(Ordering::SeqCst) {
        sig::SIGINT => "SIGINT",
        sig::SIGTERM => "SIGTERM",
        _ => "stop request",
    };
    write_state(&dir, starts, true).map_err(|e| Fatal(1, e))?;
    log(
        "info",
        &format!(
            "{} received; stopped cleanly after {} requests",
            signal, served
        ),
    );
    Ok(())
}

/// Turns the first URL of an `ASPNETCORE_URLS` list into addresses to try, in order.
/// Returns the candidates and the URLs that are ignored.
fn parse_urls(list: &str) -> Result<(Vec<SocketAddr>, Vec<String>), String> {
    let urls: Vec<&str> = list
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let first = urls.first().copied().unwrap_or(DEFAULT_URLS);
    let ignored = urls.iter().skip(1).map(|s| s.to_string()).collect();
    let lower = first.to_ascii_lowercase();
    if lower.starts_with("https://") {
        return Err(format!(
            "ASPNETCORE_URLS starts with {:?}: the demo AgentHost serves plain HTTP only; \
             use an http:// URL (e.g. http://0.0.0.0:8080) and terminate TLS in a reverse proxy",
            first
        ));
    }
    let rest = match lower.strip_prefix("http://") {
        Some(r) => r,
        None => {
            return Err(format!(
                "ASPNETCORE_URLS entry {:?} is not an http://HOST:PORT URL",
                first
            ))
        }
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => return Err(format!("unclosed '[' in URL {:?}", first)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port: u16 = match port {
        None => 80,
        Some(p) => p
            .parse()
            .map_err(|_| format!("bad port {:?} in URL {:?} (expected 0-65535)", p, first))?,
    };
    let any6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
    let any4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let addrs = match host {
        // Kestrel binds every interface for +, * and unknown host names; [::] is dual-stack on
        // Linux, 0.0.0.0 is the fallback for hosts without IPv6.
        "" | "+" | "*" => vec![any6, any4],
        "localhost" => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
        ],
        h => match h.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                log(
                    "warn",
                    &format!(
                        "host {:?} is not an IP address; binding all interfaces like Kestrel",
                        h
                    ),
                );
                vec![any6, any4]
            }
        },
    };
    Ok((addrs, ignored))
}

fn bind(candidates: &[SocketAddr]) -> Result<TcpListener, String> {
    let mut errors = Vec::new();
    let mut hint = "check ASPNETCORE_URLS";
    for a in candidates {
        match TcpListener::bind(a) {
            Ok(l) => return Ok(l),
            Err(e) => {
                hint = match e.kind() {
                    ErrorKind::AddrInUse => {
                        "another process uses the port: pick a free one in ASPNETCORE_URLS"
                    }
                    ErrorKind::PermissionDenied => {
                        "not allowed: ports below 1024 need CAP_NET_BIND_SERVICE, or a sandbox \
                         (SystemCallFilter=, RestrictAddressFamilies=) forbids listening"
                    }
                    _ => hint,
                };
                errors.push(format!("{}: {}", a, e));
            }
        }
    }
    Err(format!("cannot listen ({}); {}", errors.join("; "), hint))
}

/// `$STATE_DIRECTORY` (set by systemd's StateDirectory=, colon-separated if several), else
/// `$LUCIA_STATE_DIR`, else `./data` (the real AgentHost's relative default).
fn state_dir() -> PathBuf {
    for var in ["STATE_DIRECTORY", "LUCIA_STATE_DIR"] {
        if let Ok(v) = env::var(var) {
            if let Some(first) = v.split(':').find(|s| !s.is_empty()) {
                return PathBuf::from(first);
            }
        }
    }
    PathBuf::from("./data")
}

fn read_starts(dir: &Path) -> u64 {
    let text = fs::read_to_string(dir.join(STATE_FILE)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("starts="))
        .find_map(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Rewrites the state file atomically (temp file + rename) so a crash never leaves half a file.
fn write_state(dir: &Path, starts: u64, stopped: bool) -> Result<(), String> {
    let hint = "the service needs a writable state directory: StateDirectory= in the unit, \
                or LUCIA_STATE_DIR";
    fs::create_dir_all(dir).map_err(|e| {
        format!(
            "cannot create state dir {}: {} ({})",
            dir.display(),
            e,
            hint
        )
    })?;
    let body =
        format!(
        "# Written by the demo AgentHost; safe to delete.\nversion={}\nstarts={}\npid={}\n{}={}\n",
        VERSION, starts, process::id(), if stopped { "stopped" } else { "started" }, rfc3339_now()
    );
    let tmp = dir.join(format!(".{}.tmp", STATE_FILE));
    let result = fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(body.as_bytes()).and_then(|_| f.sync_all()))
        .and_then(|_| fs::rename(&tmp, dir.join(STATE_FILE)));
    result.map_err(|e| {
        format!(
            "cannot write {}: {} ({})",
            dir.join(STATE_FILE).display(),
            e,
            hint
        )
    })
}

/// Accept loop: runs until STOP is set, then drains in-flight requests. Returns requests served.
fn serve(listener: TcpListener) -> usize {
    let active = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    if let Err(e) = listener.set_nonblocking(true) {
        log(
            "warn",
            &format!(
                "cannot make listener non-blocking ({}); stop may be delayed",
                e
            ),
        );
    }
    while !STOP.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if active.load(Ordering::SeqCst) >= MAX_CONNS {
                    reject_busy(stream, peer);
                    continue;
                }
                active.fetch_add(1, Ordering::SeqCst);
                let guard = ActiveGuard(Arc::clone(&active));
                let served = Arc::clone(&served);
                let spawned = thread::Builder::new().name("conn".into()).spawn(move || {
                    let _guard = guard; // decrements even if the handler panics
                    handle(stream, peer);
                    served.fetch_add(1, Ordering::SeqCst);
                });
                if let Err(e) = spawned {
                    log(
                        "warn",
                        &format!("cannot start a thread for {}: {}", peer, e),
                    );
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                thread::sleep(POLL)
            }
            Err(e) => {
                // e.g. EMFILE: back off instead of spinning.
                log("warn", &format!("accept failed: {}", e));
                thread::sleep(POLL * 4);
            }
        }
    }
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    served.load(Ordering::SeqCst)
}

struct ActiveGuard(Arc<AtomicUsize>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn reject_busy(mut stream: TcpStream, peer: SocketAddr) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_millis(200)));
    let _ = respond(&mut stream, 503, "Service Unavailable", "Busy\n", false);
    log(
        "warn",
        &format!("{} rejected: {} connections in flight", peer, MAX_CONNS),
    );
}

fn handle(mut stream: TcpStream, peer: SocketAddr) {
    let started = Instant::now();
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (code, reason, body, head, what) = match read_head(&mut stream) {
        Ok(None) => return, // closed without sending anything (e.g. a TCP health probe)
        Ok(Some(h)) => route(&h),
        Err(Some(code)) => (code, reason_for(code), "", false, "-".to_string()),
        Err(None) => return,
    };
    let _ = respond(&mut stream, code, reason, body, head);
    linger_close(stream);
    let ms = started.elapsed().as_millis();
    log("info", &format!("{} \"{}\" {} {}ms", peer, what, code, ms));
}

/// Closes after the peer has had the response: half-close, then discard what it still sends
/// (briefly, bounded). Closing with unread input would send a TCP RST that can destroy the
/// response before the client reads it (e.g. after a 431 for an oversized request).
fn linger_close(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(250)));
    let mut sink = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => left = left.saturating_sub(n),
            _ => break,
        }
    }
}

/// Reads up to the blank line ending the request head. Err(Some(status)) for a request we
/// answer with an error, Err(None) when the peer is gone.
fn read_head(stream: &mut TcpStream) -> Result<Option<Vec<u8>>, Option<u16>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // Each read has its own timeout; this bounds a client that trickles bytes (slowloris).
    let deadline = Instant::now() + IO_TIMEOUT * 2;
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(Some(400)),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::TimedOut => {
                return Err(if buf.is_empty() { None } else { Some(408) })
            }
            Err(_) => return Err(None),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n").or_else(|| find(&buf, b"\n\n")) {
            buf.truncate(end);
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Err(Some(431));
        }
        if Instant::now() > deadline {
            return Err(Some(408));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Maps a request head to (status, reason, body, is HEAD, log text).
fn route(head: &[u8]) -> (u16, &'static str, &'static str, bool, String) {
    let line = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let line = String::from_utf8_lossy(line);
    let parts: Vec<&str> = line.split_whitespace().collect();
    if parts.len() != 3 || !parts[2].starts_with("HTTP/1.") || !parts[1].starts_with('/') {
        return (
            400,
            reason_for(400),
            "Bad Request\n",
            false,
            printable(&line),
        );
    }
    let (method, path) = (parts[0], parts[1].split('?').next().unwrap_or(""));
    let what = printable(&format!("{} {}", method, parts[1]));
    let is_head = method == "HEAD";
    if method != "GET" && !is_head {
        return (405, reason_for(405), "Method Not Allowed\n", false, what);
    }
    match path {
        "/health" | "/alive" => (200, "OK", "Healthy", is_head, what),
        _ => (404, reason_for(404), "Not Found\n", is_head, what),
    }
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

fn respond(s: &mut TcpStream, code: u16, reason: &str, body: &str, head: bool) -> io::Result<()> {
    let allow = if code == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let msg = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\nServer: lucia-demo\r\n{}\r\n{}",
        code,
        reason,
        body.len(),
        allow,
        if head { "" } else { body }
    );
    s.write_all(msg.as_bytes())?;
    s.flush()
}

/// Keeps client-controlled text from forging log lines: control chars become '?', 200 chars max.
fn printable(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn log(level: &str, msg: &str) {
    // One line per event; stdout goes to the journal under systemd, to `podman logs` in OCI.
    let out = io::stdout();
    let mut out = out.lock();
    let _ = writeln!(out, "{} {}: {}", rfc3339_now(), level, msg);
}

fn rfc3339_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), UTC.
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        y,
        m,
        d,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `--self-test`: URL parsing plus a real server on 127.0.0.1 fed good and bad requests.
fn self_test() -> Result<(), Fatal> {
    let mut failures = Vec::new();
    let mut check = |ok: bool, what: &str| {
        if !ok {
            failures.push(what.to_string())
        }
    };
    let first = |u: &str| {
        parse_urls(u)
            .ok()
            .and_then(|(a, _)| a.first().copied())
            .map(|a| a.to_string())
    };
    check(
        first("http://0.0.0.0:8080").as_deref() == Some("0.0.0.0:8080"),
        "0.0.0.0",
    );
    check(
        first("http://+:8080;https://+:8081").as_deref() == Some("[::]:8080"),
        "+ list",
    );
    check(first("http://*:7233").as_deref() == Some("[::]:7233"), "*");
    check(
        first("http://localhost:5000").as_deref() == Some("127.0.0.1:5000"),
        "localhost",
    );
    check(
        first("http://[::]:8080/").as_deref() == Some("[::]:8080"),
        "[::]",
    );
    check(parse_urls("https://+:8443").is_err(), "https refused");
    check(parse_urls("http://+:99999").is_err(), "bad port refused");
    check(parse_urls("ftp://x").is_err(), "non-http refused");

    let listener = bind(&[SocketAddr::from(([127, 0, 0, 1], 0))]).map_err(|e| Fatal(1, e))?;
    let addr = listener.local_addr().map_err(|e| Fatal(1, e.to_string()))?;
    let server = thread::spawn(move || serve(listener));
    let ask = |req: &[u8]| -> String {
        let mut reply = String::new();
        if let Ok(mut s) = TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(IO_TIMEOUT));
            let _ = s.write_all(req);
            let _ = s.read_to_string(&mut reply);
        }
        reply
    };
    let r = ask(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    check(
        r.starts_with("HTTP/1.1 200 ") && r.ends_with("\r\n\r\nHealthy"),
        "GET /health",
    );
    let r = ask(b"HEAD /alive?x=1 HTTP/1.1\r\n\r\n");
    check(
        r.starts_with("HTTP/1.1 200 ") && r.ends_with("\r\n\r\n"),
        "HEAD /alive",
    );
    check(
        ask(b"GET /nope HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "),
        "404",
    );
    check(
        ask(b"POST /health HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "),
        "405",
    );
    check(
        ask(b"\x00\xff\xfe garbage\r\n\r\n").starts_with("HTTP/1.1 400 "),
        "garbage",
    );
    check(
        ask(&vec![b'A'; MAX_HEAD * 2]).starts_with("HTTP/1.1 431 "),
        "oversized head",
    );
    STOP.store(true, Ordering::SeqCst);
    check(
        server.join().map(|n| n >= 6).unwrap_or(false),
        "server stops and counts requests",
    );
    if failures.is_empty() {
        println!("self-test: ok");
        Ok(())
    } else {
        Err(Fatal(
            1,
            format!("self-test failed: {}", failures.join(", ")),
        ))
    }
}
