//! The `lucia-pkg` command: parses the command line, runs one subcommand of the `lucia_pkg`
//! library (src/lib.rs) and prints its result as text or JSON, mapping errors to exit codes.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use lucia_pkg::cli::{self, Cli, Command, Selection};
use lucia_pkg::error::AppError;
use lucia_pkg::{
    build, formats, init, manifest, nix_cache, progress, provenance, registry_cache, repo, signals,
    store, sums_sign, verify,
};

fn main() -> ExitCode {
    signals::install();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(mut e) => {
            suggest_manifest_flag(&mut e);
            let _ = e.print();
            // clap: help/version are successes, everything else is bad input.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A signal is being handled: its thread exits with 128 + signal after cleaning up.
            while signals::interrupted() {
                std::thread::park();
            }
            if json {
                println!("{}", e.to_json());
            } else {
                eprintln!("{}", e.render(std::io::stderr().is_terminal()));
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// `lucia-pkg build FILE`: the manifest is an option, not a positional argument; say so.
fn suggest_manifest_flag(e: &mut clap::Error) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return;
    };
    let arg = arg.clone();
    let sub = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    if arg.starts_with('-') || !matches!(sub.as_deref(), Some("build" | "check" | "verify")) {
        return;
    }
    e.insert(
        ContextKind::Suggested,
        ContextValue::StyledStrs(vec![format!(
            "the manifest is given with -m: `lucia-pkg {} -m {arg}`",
            sub.unwrap_or_default()
        )
        .into()]),
    );
}

/// Writes the man pages as `clap_mangen::generate_to` does, returning their file names.
fn write_man_pages(cmd: clap::Command, dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    fn generate(
        cmd: clap::Command,
        dir: &std::path::Path,
        pages: &mut Vec<String>,
    ) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            generate(sub, dir, pages)?;
        }
        let path = clap_mangen::Man::new(cmd).generate_to(dir)?;
        if let Some(name) = path.file_name() {
            pages.push(name.to_string_lossy().into_owned());
        }
        Ok(())
    }
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    generate(cmd, dir, &mut pages)?;
    pages.sort();
    Ok(pages)
}

fn request(sel: &Selection, revision: Option<String>) -> Result<build::Request, AppError> {
    Ok(build::Request {
        manifest: sel.manifest_path()?,
        arches: sel
            .arch
            .as_deref()
            .map(build::parse_arch_list)
            .transpose()?,
        formats: sel
            .format
            .as_deref()
            .map(build::parse_format_list)
            .transpose()?,
        revision,
        overrides: sel
            .set
            .iter()
            .map(|kv| manifest::overrides::parse(kv).map_err(AppError::Input))
            .collect::<Result<_, _>>()?,
    })
}

/// The OCI layout the last build wrote into `out`, from its build-info.json.
fn last_oci_output(out: &std::path::Path) -> Result<std::path::PathBuf, AppError> {
    let info = out.join("build-info.json");
    let text = std::fs::read_to_string(&info).map_err(|e| {
        AppError::Input(format!(
            "{}: {e}; build first or name the OCI layout/archive to push",
            info.display()
        ))
    })?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| AppError::Input(format!("{}: {e}", info.display())))?;
    v["outputs"]
        .as_array()
        .and_then(|a| a.iter().find(|o| o["format"] == "oci"))
        .and_then(|o| o["name"].as_str())
        .map(|n| out.join(n))
        .ok_or_else(|| {
            AppError::Input(format!(
                "{} lists no OCI output: build with --format oci first",
                info.display()
            ))
        })
}

fn open_store() -> Result<store::Store, AppError> {
    let root = store::default_root().map_err(|e| AppError::Input(e.to_string()))?;
    store::Store::open(&root).map_err(AppError::build)
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The global flags every subcommand's output follows.
#[derive(Clone, Copy)]
struct Flags {
    json: bool,
    verbose: u8,
    quiet: bool,
}

fn run(cli: Cli) -> Result<(), AppError> {
    let flags = Flags {
        json: cli.json,
        verbose: cli.verbose,
        quiet: cli.quiet,
    };
    let json = cli.json;
    match cli.command {
        Command::Build {
            sel,
            out,
            revision,
            no_cache,
            cache,
            clean,
        } => build_command(
            &sel,
            &out,
            revision,
            no_cache,
            cache.as_deref(),
            clean,
            flags,
        )?,
        Command::Init {
            dir,
            payloads,
            name,
            pkg_version,
            force,
        } => init_command(
            init::InitOptions {
                dir,
                payloads,
                name,
                version: pkg_version,
                force,
            },
            json,
        )?,
        Command::Check { sel } => check_command(&sel, json)?,
        Command::Inspect { file } => inspect_command(&file, json)?,
        Command::Completions { shell } => completions_command(shell),
        Command::Manpage { out } => manpage_command(&out, json)?,
        Command::Hash { path, base32 } => hash_command(&path, base32, json)?,
        Command::Verify { sel, keep } => verify_command(&sel, keep, json)?,
        Command::Repo(cli::RepoCommand::Apt {
            out,
            suite,
            component,
            origin,
            label,
            key,
            inputs,
        }) => {
            let key = repo::sign::load(key.as_deref())?;
            if key.is_none() && !json {
                eprintln!("warning: no --key (or {}): the repository is unsigned; apt accepts it only with [trusted=yes]", repo::sign::KEY_ENV);
            }
            repo_apt_command(
                &repo::apt::AptOptions {
                    out,
                    suite,
                    component,
                    origin,
                    label,
                    key,
                    inputs,
                },
                json,
            )?
        }
        Command::Repo(cli::RepoCommand::Dnf(args)) => repo::dnf::command(args, json)?,
        Command::SignSums { out, key, openpgp } => {
            sign_sums_command(&out, key.as_deref(), openpgp, json)?
        }
        Command::Attest { out, key } => provenance::command(&out, key.as_deref(), json)?,
        Command::VerifyRelease {
            out,
            sums_key,
            image_key,
            repo_key,
            apt_repo,
            dnf_repo,
        } => lucia_pkg::verify_release::command(
            &lucia_pkg::verify_release::Options {
                out,
                sums_key,
                image_key,
                repo_key,
                apt_repos: apt_repo,
                dnf_repos: dnf_repo,
            },
            json,
        )?,
        Command::SignImage {
            out,
            key,
            repository,
        } => lucia_pkg::image_sign::command(&out, key.as_deref(), &repository, json)?,
        Command::Cache(cli::CacheCommand::Export(args)) => nix_cache::command(args, json)?,
        Command::Gc => gc_command(json)?,
        Command::Push {
            source,
            to,
            tags,
            manifest,
            out,
            insecure_http,
            no_attach,
        } => push_command(
            source,
            &to,
            tags,
            manifest.as_deref(),
            &out,
            insecure_http,
            no_attach,
            json,
        )?,
    }
    Ok(())
}

/// `lucia-pkg build`: the artifacts, then a table of them (or the report as JSON).
fn build_command(
    sel: &Selection,
    out: &std::path::Path,
    revision: Option<String>,
    no_cache: bool,
    cache: Option<&str>,
    clean: bool,
    flags: Flags,
) -> Result<(), AppError> {
    let progress = progress::Progress::new(flags.quiet || flags.json);
    let req = request(sel, revision)?;
    let mut early_warnings = Vec::new();
    let store = if no_cache {
        None
    } else {
        let mut st = open_store()?;
        if let Some(reference) = registry_cache::reference(cache) {
            match registry_cache::RegistryCache::connect(&reference)? {
                Ok(remote) => st.attach_remote(Box::new(remote)),
                Err(warning) => early_warnings.push(warning),
            }
        }
        Some(st)
    };
    let mut report = build::run_with(&req, out, clean, &progress, store.as_ref())?;
    report.warnings.splice(0..0, early_warnings);
    if flags.verbose > 0 && !flags.json {
        let mut e = std::io::stderr().lock();
        if let Some(s) = &report.store {
            let _ = writeln!(e, "store: {s}");
        }
        for p in &report.payloads {
            let how = match (&p.builder_key, p.builder_cached) {
                (Some(k), true) => format!(" (builder {k}, cached)"),
                (Some(k), false) => format!(" (builder {k}, ran)"),
                _ => String::new(),
            };
            let _ = writeln!(e, "payload {}: {}{how}", p.arch, p.nar_sha256);
        }
        for a in &report.artifacts {
            let _ = writeln!(
                e,
                "{}: key {} ({:.2}s{})",
                a.artifact.name,
                a.artifact.key,
                a.seconds,
                match (a.pulled, a.cached) {
                    (true, _) => ", from the shared cache",
                    (false, true) => ", cached",
                    _ => "",
                }
            );
        }
    }
    if flags.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(AppError::build)?
        );
        return Ok(());
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let mut o = std::io::stdout().lock();
    let _ = writeln!(
        o,
        "{:<40} {:>10}  {:<12} time",
        "artifact", "size", "sha256"
    );
    for s in &report.artifacts {
        let a = &s.artifact;
        let size = if a.size > 0 {
            human_size(a.size)
        } else {
            "dir".into()
        };
        let sha = a
            .sha256
            .trim_start_matches("sha256:")
            .get(..12)
            .unwrap_or("-");
        let how = if s.pulled {
            "from the shared cache".to_string()
        } else if s.cached {
            "cached".to_string()
        } else {
            format!("built in {:.1}s", s.seconds)
        };
        let _ = writeln!(o, "{:<40} {:>10}  {:<12} {how}", a.name, size, sha);
    }
    if let Some(c) = &report.cache {
        let _ = writeln!(
            o,
            "shared cache: {} entries pulled, {} published, {} rejected",
            c.pulled, c.published, c.rejected
        );
    }
    if let Some(g) = report
        .segments
        .filter(|g| g.reused + g.compressed + g.refused > 0)
    {
        let _ = writeln!(
            o,
            "segments: {} reused ({}), {} compressed{}",
            g.reused,
            human_size(g.reused_bytes),
            g.compressed,
            if g.refused > 0 {
                format!(", {} refused and rebuilt", g.refused)
            } else {
                String::new()
            }
        );
    }
    if !report.removed.is_empty() {
        let _ = writeln!(
            o,
            "removed from {}: {}",
            report.out_dir,
            report.removed.join(", ")
        );
    }
    let _ = writeln!(
        o,
        "wrote {} files, SHA256SUMS and build-info.json to {} (source date {})",
        report.files.len() - 1,
        report.out_dir,
        pkg_core::determinism::rfc3339(report.source_date_epoch)
    );
    Ok(())
}

/// `lucia-pkg init`: scaffolds the manifest, unit and env template.
fn init_command(opts: init::InitOptions, json: bool) -> Result<(), AppError> {
    let report = init::scaffold(&opts)?;
    let dir = &opts.dir;
    if json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(AppError::build)?
        );
        return Ok(());
    }
    for f in &report.files {
        println!("wrote {}", dir.join(f).display());
    }
    for (arch, path) in &report.arches {
        println!("  [payload.{arch}] path = \"{path}\"");
    }
    println!("  entrypoint = \"{}\"", report.entrypoint);
    let m = if dir == std::path::Path::new(".") {
        String::new()
    } else {
        format!(" -m {}", dir.join(init::MANIFEST_NAME).display())
    };
    println!("next: review them, then `lucia-pkg build{m}`");
    Ok(())
}

/// `lucia-pkg check`: every check a build makes, without writing artifacts.
fn check_command(sel: &Selection, json: bool) -> Result<(), AppError> {
    let req = request(sel, None)?;
    let store = open_store().ok();
    let prep = build::prepare(&req, store.as_ref())?;
    if json {
        let plans: Vec<_> = prep
            .plans
            .iter()
            .map(|p| {
                serde_json::json!({
                    "arch": p.arch.as_str(), "entries": p.entries.len(), "bytes": p.payload_size(),
                    "plan_sha256": build::plan_fingerprint(p),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "ok": true, "name": prep.spec.meta.name, "version": prep.spec.meta.version.upstream, "formats": prep.formats.iter().map(|f| f.as_str()).collect::<Vec<_>>(), "plans": plans, "warnings": build::warnings(&prep) })
        );
        return Ok(());
    }
    for w in build::warnings(&prep) {
        eprintln!("warning: {w}");
    }
    for p in &prep.plans {
        println!(
            "ok: {} {} for {}: {} entries, {} of payload",
            prep.spec.meta.name,
            prep.spec.meta.version.deb(),
            p.arch,
            p.entries.len(),
            human_size(p.payload_size())
        );
    }
    Ok(())
}

/// `lucia-pkg inspect`: the artifact's report; a failed check is printed first, then returned.
fn inspect_command(file: &std::path::Path, json: bool) -> Result<(), AppError> {
    let inspection = formats::inspect(file)?;
    print!(
        "{}",
        if json {
            &inspection.json
        } else {
            &inspection.text
        }
    );
    match inspection.failure {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// `lucia-pkg completions`: the shell's completion script on stdout.
fn completions_command(shell: clap_complete::Shell) {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "lucia-pkg", &mut script);
    let mut script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script = cli::bash_completion(&script);
    }
    print!("{script}");
}

/// `lucia-pkg manpage`: one man page per (sub)command into `out`.
fn manpage_command(out: &std::path::Path, json: bool) -> Result<(), AppError> {
    std::fs::create_dir_all(out).map_err(|e| AppError::Input(format!("{}: {e}", out.display())))?;
    let pages = write_man_pages(Cli::command(), out)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "dir": out.display().to_string(), "pages": pages })
        );
    } else {
        println!("{} man pages written to {}", pages.len(), out.display());
    }
    Ok(())
}

/// `lucia-pkg hash`: a path's NAR hash as Nix prints it.
fn hash_command(path: &std::path::Path, base32: bool, json: bool) -> Result<(), AppError> {
    let digest = nar::nar_hash(path).map_err(|e| AppError::Input(e.to_string()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "path": path.display().to_string(), "sri": nar::sri_sha256(&digest), "nix32": nar::nix32(&digest), "hex": hex::encode(digest) })
        );
    } else if base32 {
        println!("{}", nar::nix32(&digest));
    } else {
        println!("{}", nar::sri_sha256(&digest));
    }
    Ok(())
}

/// `lucia-pkg verify`: two builds under varied conditions, compared byte for byte.
fn verify_command(sel: &Selection, keep: bool, json: bool) -> Result<(), AppError> {
    let exe = std::env::current_exe().map_err(AppError::build)?;
    let report = verify::run(sel, keep, &exe)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(AppError::build)?
        );
    } else {
        let host = if report.hostname_varied {
            "hostname, "
        } else {
            ""
        };
        if report.identical {
            println!("reproducible: {} files identical across two builds (varied: TZ, LANG, umask, TMPDIR, HOME, {host}build and out paths)", report.artifacts);
        } else {
            for d in &report.differences {
                println!("DIFFERS: {}: {}", d.artifact, d.first_difference);
            }
        }
        if let Some([a, b]) = &report.kept {
            println!("kept: {a} {b}");
        }
    }
    if !report.identical {
        return Err(AppError::Build(format!(
            "{} artifact(s) differ between two builds of the same inputs",
            report.differences.len()
        )));
    }
    Ok(())
}

/// `lucia-pkg repo apt`: the repository, then one line per package and a summary.
fn repo_apt_command(opts: &repo::apt::AptOptions, json: bool) -> Result<(), AppError> {
    let report = repo::apt::run(opts)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(AppError::build)?
        );
        return Ok(());
    }
    let mut o = std::io::stdout().lock();
    for p in &report.packages {
        let _ = writeln!(
            o,
            "{} {:<30} {:<20} {:<6} {}",
            if p.added { "+" } else { " " },
            p.name,
            p.version,
            p.arch,
            p.filename
        );
    }
    let added = report.packages.iter().filter(|p| p.added).count();
    let _ = writeln!(
        o,
        "{}: suite {} ({}; {}), {} package(s), {added} added, dated {}{}",
        report.dir,
        report.suite,
        report.components.join(" "),
        report.architectures.join(" "),
        report.packages.len(),
        report.date,
        match &report.signed_by {
            Some(f) => format!(", signed by {f}"),
            None => ", unsigned".to_string(),
        }
    );
    Ok(())
}

/// `lucia-pkg sign-sums`: an SSH signature over the out dir's SHA256SUMS.
fn sign_sums_command(
    out: &std::path::Path,
    key: Option<&std::path::Path>,
    openpgp: bool,
    json: bool,
) -> Result<(), AppError> {
    let path = if openpgp {
        sums_sign::run_openpgp(out, key)?
    } else {
        sums_sign::run(out, key)?
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "ok": true, "signature": path.display().to_string() })
        );
    } else {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// `lucia-pkg gc`: removes store entries no live out dir uses.
fn gc_command(json: bool) -> Result<(), AppError> {
    let st = open_store()?;
    let r = st.gc(false).map_err(AppError::build)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "removed": r.removed, "kept": r.kept, "freed_bytes": r.freed_bytes,
                "dead_roots": r.dead_roots, "live_roots": r.live_roots, "temp_dirs_removed": r.temp_dirs_removed,
                "segments_removed": r.segments_removed,
            })
        );
    } else {
        println!(
            "gc: removed {} entries and {} segments ({}), kept {}, {} live out dir(s), {} dead root(s) dropped, {} stale temp dir(s) removed",
            r.removed.len(), r.segments_removed, human_size(r.freed_bytes), r.kept.len(), r.live_roots, r.dead_roots.len(), r.temp_dirs_removed
        );
    }
    Ok(())
}

/// `lucia-pkg push`: an OCI layout or archive to a registry, with its tags.
#[allow(clippy::too_many_arguments)]
fn push_command(
    source: Option<std::path::PathBuf>,
    to: &str,
    tags: Vec<String>,
    manifest: Option<&std::path::Path>,
    out: &std::path::Path,
    insecure_http: bool,
    no_attach: bool,
    json: bool,
) -> Result<(), AppError> {
    let push_error = |e: registry_push::PushError| {
        if e.exit_code() == 2 {
            AppError::Input(e.to_string())
        } else {
            AppError::Build(e.to_string())
        }
    };
    let source = match source {
        Some(s) => s,
        None => last_oci_output(out)?,
    };
    // Tags: the layout's version tag (always), `:TAG`, the manifest's `oci.tags`, `--tag`.
    let mut all_tags = Vec::new();
    if let Some(m) = manifest {
        let spec = manifest::load(m)?;
        let want = registry_push::tag_for_version(&spec.meta.version.upstream);
        let have = registry_push::layout_version_tag(&source).map_err(push_error)?;
        if have.as_deref() != Some(want.as_str()) {
            return Err(AppError::Input(format!(
                "{} is version {} (tag `{want}`), but {} is tagged `{}`: pass the manifest the layout was built from",
                m.display(),
                spec.meta.version.upstream,
                source.display(),
                have.unwrap_or_default()
            )));
        }
        all_tags.extend(spec.oci.tags);
    }
    all_tags.extend(tags);
    let attach = match no_attach {
        true => Default::default(),
        false => lucia_pkg::image_sign::attachments(&source, to)?,
    };
    let report = registry_push::push_with_default_credentials_attached(
        &source,
        to,
        all_tags,
        insecure_http,
        attach,
    )
    .map_err(push_error)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(AppError::build)?
        );
    } else {
        print!("{report}");
    }
    Ok(())
}
