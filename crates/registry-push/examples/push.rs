//! Pushes a layout or oci-archive: `push LAYOUT REGISTRY/REPO[:TAG] [--tag T]... [--insecure-http] [--json]`.
//! Credentials come from LUCIA_PKG_REGISTRY_USER/PASSWORD or the docker config, and the timeout
//! from LUCIA_PKG_REGISTRY_TIMEOUT, as in `lucia-pkg push`.
//! Exit codes: 0 pushed, 1 push failed, 2 bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut positional, mut opts, mut json) =
        (Vec::new(), registry_push::PushOptions::default(), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tag" => match args.next() {
                Some(t) => opts.tags.push(t),
                None => return usage(),
            },
            "--insecure-http" => opts.insecure_http = true,
            "--json" => json = true,
            _ => positional.push(a),
        }
    }
    let [layout, to] = positional.as_slice() else {
        return usage();
    };
    let dest = match registry_push::parse_destination(to) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    opts.timeout = match registry_push::timeout_from_env() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    opts.credentials = match registry_push::credentials_from_env_or_docker_config(&dest.registry) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match registry_push::push(&PathBuf::from(layout), to, opts) {
        Ok(r) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                print!("{r}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: push LAYOUT|ARCHIVE REGISTRY/REPO[:TAG] [--tag T]... [--insecure-http] [--json]"
    );
    ExitCode::from(2)
}
