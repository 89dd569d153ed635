//! `lucia-pkg build`: manifest → per-arch plans → writers (in parallel) → out dir, then
//! `SHA256SUMS` and `build-info.json`. The build-info record is itself a pure function of the
//! inputs (relative paths, no clock, no cache state), so it is reproducible like the artifacts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use pkg_core::determinism::{resolve_source_date, rfc3339, SourceDateOrigin};
use pkg_core::digest::sha256_hex;
use pkg_core::plan::EntryKind;
use pkg_core::{Arch, Plan};
use rayon::prelude::*;
use serde::Serialize;

use crate::after::{self, AfterStep};
use crate::error::AppError;
use crate::formats::{self, Output, PackageFormat, Scope, Segments, Shape, Written};
use crate::manifest::{self, Format, Spec};
use crate::output::{self, FileRecord};
use crate::progress::Progress;
use crate::store::{self, BuildKey, KeyBuilder, Store};
use crate::{plan, sbom, schedule};

pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the user asked for, resolved against the manifest.
#[derive(Debug, Clone)]
pub struct Request {
    pub manifest: PathBuf,
    pub arches: Option<Vec<Arch>>,
    pub formats: Option<Vec<Format>>,
    pub revision: Option<String>,
    /// `--set KEY=VALUE`, already parsed; applied to the validated manifest in order.
    pub overrides: Vec<(String, String)>,
}

pub fn parse_arch_list(s: &str) -> Result<Vec<Arch>, AppError> {
    if s.trim() == "all" {
        return Ok(Arch::ALL.to_vec());
    }
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let a = part
            .parse::<Arch>()
            .map_err(|e| AppError::Input(format!("--arch: {e}")))?;
        if !v.contains(&a) {
            v.push(a);
        }
    }
    if v.is_empty() {
        return Err(AppError::Input(format!(
            "--arch is empty: give {}",
            word_list(&crate::cli::arch_words())
        )));
    }
    v.sort();
    Ok(v)
}

/// `a, b, c or d`.
fn word_list(words: &[&str]) -> String {
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

pub fn parse_format_list(s: &str) -> Result<Vec<Format>, AppError> {
    if s.trim() == "all" {
        return Ok(Format::ALL.to_vec());
    }
    let mut v = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let f = Format::parse(part).ok_or_else(|| {
            AppError::Input(format!(
                "--format: unknown format `{part}`: use {}",
                word_list(&crate::cli::format_words())
            ))
        })?;
        if !v.contains(&f) {
            v.push(f);
        }
    }
    if v.is_empty() {
        return Err(AppError::Input(format!(
            "--format is empty: give {}",
            word_list(&crate::cli::format_words())
        )));
    }
    v.sort();
    Ok(v)
}

/// The validated inputs of a build: spec, source date and one plan per arch.
pub struct Prepared {
    pub spec: Spec,
    /// `--set` overrides applied to the manifest (recorded in build-info.json).
    pub overrides: Vec<(String, String)>,
    pub source_date: u64,
    pub source_date_origin: SourceDateOrigin,
    pub formats: Vec<Format>,
    pub plans: Vec<Plan>,
    /// NAR hash (SRI) of each arch's payload directory, as `nix hash path` prints it.
    pub payload_nar: BTreeMap<Arch, String>,
    /// The payload directories (kept alive for the build: a builder's output may live in a temp dir).
    pub payloads: BTreeMap<Arch, crate::payload_builder::Payload>,
}

/// What builds fine but will not work: an image whose entrypoint is a `#!` script on the
/// `scratch` base has no interpreter to run it.
pub fn warnings(prep: &Prepared) -> Vec<String> {
    let mut out = std::collections::BTreeSet::new();
    if !prep.formats.contains(&Format::Oci) {
        return Vec::new();
    }
    for plan in &prep.plans {
        let oci = &plan.formats.oci;
        let Some(program) = oci.entrypoint.first() else {
            continue;
        };
        if oci.base.is_some() {
            continue;
        }
        let entry = plan.entries.iter().find(|e| &e.path == program);
        let script = match entry.map(|e| &e.kind) {
            Some(pkg_core::EntryKind::File { content, .. }) => {
                let mut head = [0u8; 2];
                content
                    .open()
                    .and_then(|mut r| std::io::Read::read_exact(&mut r, &mut head))
                    .is_ok()
                    && &head == b"#!"
            }
            _ => false,
        };
        if script {
            out.insert(format!(
                "the image's entrypoint {program} is a `#!` script, but the base is `scratch`, which has no interpreter: the image cannot run (give oci.base a layout that has one, pinned by digest, or drop \"oci\" from package.formats)"
            ));
        }
    }
    out.into_iter().collect()
}

pub fn prepare(req: &Request, store: Option<&Store>) -> Result<Prepared, AppError> {
    let mut spec = manifest::load(&req.manifest)?;
    manifest::overrides::apply(&mut spec, &req.overrides).map_err(AppError::Input)?;
    if let Some(rev) = &req.revision {
        spec.meta.revision = Some(rev.clone());
    }
    let env_sde = std::env::var("SOURCE_DATE_EPOCH").ok();
    let (source_date, origin) = resolve_source_date(env_sde.as_deref(), spec.source_date_epoch)
        .map_err(|e| AppError::Input(e.to_string()))?;
    let arches = match &req.arches {
        None => spec.arches.clone(),
        Some(a) => {
            for x in a {
                if !spec.arches.contains(x) {
                    return Err(AppError::Input(format!(
                        "--arch {x}: the manifest does not declare it (package.arches = {:?})",
                        spec.arches.iter().map(|a| a.as_str()).collect::<Vec<_>>()
                    )));
                }
            }
            a.clone()
        }
    };
    let formats = match &req.formats {
        None => spec
            .formats
            .iter()
            .copied()
            .filter(|f| formats::get(*f).is_some())
            .collect(),
        Some(f) => {
            for x in f {
                if !spec.formats.contains(x) {
                    return Err(AppError::Input(format!(
                        "--format {}: the manifest does not declare it (add it to package.formats)",
                        x.as_str()
                    )));
                }
                if formats::get(*x).is_none() {
                    return Err(unavailable(*x));
                }
            }
            f.clone()
        }
    };
    // The rpm writer cannot use a source date after 2106 or in the future (the crate would use the
    // clock): refuse it as bad input here, before any format is written. (The manifest's own value
    // was already refused at its location; this catches SOURCE_DATE_EPOCH.)
    if formats.contains(&Format::Rpm) {
        format_rpm::check_source_date(source_date)
            .map_err(|e| AppError::Input(format!("{} = {source_date}: {e}", origin.as_str())))?;
    }
    let payloads = arches
        .iter()
        .map(|arch| {
            crate::payload_builder::materialize(&spec, *arch, source_date, store)
                .map(|p| (*arch, p))
        })
        .collect::<Result<BTreeMap<_, _>, AppError>>()?;
    // One read of every payload file: the NAR hash (the payload's content address) and each
    // file's sha256 for the plan come from the same pass.
    let planned = payloads
        .par_iter()
        .map(|(arch, payload)| {
            let nar = nar::nar_hash_with_file_digests(&payload.root);
            let known: plan::payload::KnownDigests = match &nar {
                Ok((_, _, files)) => files
                    .iter()
                    .map(|f| (f.path.clone(), (f.sha256, f.size)))
                    .collect(),
                Err(_) => Default::default(),
            };
            // A payload the NAR cannot hold (a fifo, a device…) gets the planner's located
            // refusal, which says how to fix it.
            let plan = plan::build(&spec, *arch, &payload.root, source_date, &known)?;
            let (h, _, _) = nar
                .map_err(|e| AppError::Plan(plan::PlanError::new(&payload.root, e.to_string())))?;
            Ok((plan, (*arch, nar::sri_sha256(&h))))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let (plans, payload_nar): (Vec<_>, BTreeMap<_, _>) = planned.into_iter().unzip();
    validate_formats(&formats, &plans)?;
    Ok(Prepared {
        overrides: req.overrides.clone(),
        spec,
        source_date,
        source_date_origin: origin,
        formats,
        plans,
        payload_nar,
        payloads,
    })
}

/// One artifact the build made.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub name: String,
    pub format: String,
    pub arch: Option<String>,
    pub size: u64,
    /// sha256 of the file, or the image index digest for the OCI layout.
    pub sha256: String,
    /// Build key: the hash of everything this artifact is a function of (its store entry).
    pub key: String,
    #[serde(skip)]
    pub seconds: f64,
    #[serde(skip)]
    pub cached: bool,
    #[serde(skip)]
    pub pulled: bool,
}

/// Everything `build` reports.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    pub out_dir: String,
    pub source_date_epoch: u64,
    pub artifacts: Vec<ArtifactStatus>,
    pub files: Vec<FileRecord>,
    /// What was removed from the out dir: earlier outputs not made again (and, with `--clean`,
    /// everything else that was not this build's).
    pub removed: Vec<String>,
    pub store: Option<String>,
    /// What the shared cache (`--cache`) did in this run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<store::RemoteStats>,
    /// What the store's segment cache did in this run (with a store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segments: Option<pkg_core::segment::SegmentStats>,
    pub payloads: Vec<PayloadStatus>,
    /// Things that build but will not work as the user likely expects (see [`warnings`]).
    pub warnings: Vec<String>,
}

/// Where each arch's payload came from in this run.
#[derive(Debug, Serialize)]
pub struct PayloadStatus {
    pub arch: String,
    pub nar_sha256: String,
    pub builder_key: Option<String>,
    pub builder_cached: bool,
}

/// An artifact with its per-run status (not part of build-info.json, which must not depend on
/// the cache state).
#[derive(Debug, Serialize)]
pub struct ArtifactStatus {
    #[serde(flatten)]
    pub artifact: Artifact,
    pub cached: bool,
    /// Taken from the shared cache (`--cache`), verified by its NAR hash.
    pub pulled: bool,
    pub seconds: f64,
}

/// A stable fingerprint of a plan (see `src/plan/fingerprint.rs`): every field that can change
/// an artifact's bytes, and no machine-specific path.
pub fn plan_fingerprint(plan: &Plan) -> String {
    plan::fingerprint::fingerprint(plan)
}

fn artifact_key(
    format: &dyn PackageFormat,
    plans: &[&Plan],
    steps: &[(&dyn AfterStep, Vec<Output>)],
) -> String {
    let mut k = KeyBuilder::new();
    k.part("tool", format!("lucia-pkg {TOOL_VERSION}"));
    k.part("format", format.format().as_str());
    for p in plans {
        let codec = format.codec(p);
        k.part("arch", p.arch.as_str());
        k.part("plan", plan_fingerprint(p));
        k.part("codec", format!("{codec} {}", codec.implementation()));
    }
    // The job's store entry holds the steps' outputs too.
    for (name, version) in steps.iter().filter_map(|(s, _)| s.key()) {
        k.part(name, version);
    }
    k.finish().as_str().to_string()
}

/// `p` relative to `base`, with `..` where needed, so the record names inputs the same way on
/// every machine whatever the checkout path. Both are made absolute first (an empty `base`, the
/// parent of a bare file name, is the current directory), so the result is never absolute.
fn rel_to(base: &Path, p: &Path) -> String {
    let absolute = |x: &Path| {
        let x = if x.as_os_str().is_empty() {
            Path::new(".")
        } else {
            x
        };
        x.canonicalize()
            .or_else(|_| std::path::absolute(x))
            .unwrap_or_else(|_| x.to_path_buf())
    };
    let (base, abs) = (absolute(base), absolute(p));
    let b: Vec<_> = base.components().collect();
    let a: Vec<_> = abs.components().collect();
    let common = b.iter().zip(a.iter()).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), b.len() - common).collect();
    parts.extend(
        a[common..]
            .iter()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn build_info(prep: &Prepared, artifacts: &[Artifact]) -> serde_json::Value {
    let spec = &prep.spec;
    let manifest_dir = spec
        .manifest_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut inputs = vec![serde_json::json!({
        "kind": "manifest",
        "path": spec.manifest_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        "sha256": sha256_hex(spec.manifest_source.as_bytes()),
    })];
    for (key, value) in &prep.overrides {
        inputs.push(serde_json::json!({ "kind": "override", "key": key, "value": value }));
    }
    for plan in &prep.plans {
        let files = plan
            .entries
            .iter()
            .filter(|e| matches!(e.kind, EntryKind::File { .. }))
            .count();
        inputs.push(serde_json::json!({
            "kind": "payload",
            "arch": plan.arch.as_str(),
            "path": spec.payload(plan.arch).filter(|p| p.builder.is_none()).map(|p| rel_to(&manifest_dir, &p.path)),
            "builder_key": prep.payloads.get(&plan.arch).and_then(|p| p.builder_key.clone()),
            "files": files,
            "bytes": plan.payload_size(),
            "plan_sha256": plan_fingerprint(plan),
            "nar_sha256": prep.payload_nar.get(&plan.arch).cloned().unwrap_or_default(),
        }));
    }
    let mut extra: BTreeMap<String, String> = BTreeMap::new();
    if let Some(s) = &spec.service {
        for u in &s.units {
            extra.insert(rel_to(&manifest_dir, &u.path), file_sha(&u.path));
        }
        if let Some(e) = &s.env {
            extra.insert(rel_to(&manifest_dir, &e.template), file_sha(&e.template));
        }
    }
    for f in &spec.files {
        if let Some(src) = f.src() {
            extra.insert(rel_to(&manifest_dir, src), file_sha(src));
        }
    }
    for p in &spec.payloads {
        for input in p.builder.iter().flat_map(|b| &b.inputs) {
            let nar = nar::nar_hash(input)
                .map(|h| nar::sri_sha256(&h))
                .unwrap_or_default();
            inputs.push(serde_json::json!({ "kind": "builder-input", "arch": p.arch.as_str(), "path": rel_to(&manifest_dir, input), "nar_sha256": nar }));
        }
    }
    for (path, sha) in extra {
        inputs.push(serde_json::json!({ "kind": "file", "path": path, "sha256": sha }));
    }
    serde_json::json!({
        "schema": "lucia-pkg/build-info/v1",
        "tool": { "name": "lucia-pkg", "version": TOOL_VERSION },
        "package": { "name": spec.meta.name, "version": spec.meta.version.upstream, "release": spec.meta.version.release },
        "source_date_epoch": prep.source_date,
        "source_date": rfc3339(prep.source_date),
        "source_date_origin": prep.source_date_origin.as_str(),
        "inputs": inputs,
        "outputs": artifacts,
    })
}

fn file_sha(p: &Path) -> String {
    pkg_core::digest::sha256_file(p)
        .map(|(h, _)| hex::encode(h))
        .unwrap_or_default()
}

/// One unit of packaging work: a single-file artifact for one arch, or the multi-arch image,
/// with the after-the-artifacts steps that apply to it.
struct Job<'a> {
    format: &'static dyn PackageFormat,
    arch: Option<Arch>,
    plans: Vec<&'a Plan>,
    /// What the writer places in the out dir; `outputs[0]` is the artifact.
    outputs: Vec<Output>,
    /// Each step that applies, with the names it adds.
    steps: Vec<(&'static dyn AfterStep, Vec<Output>)>,
    key: String,
    hashes: &'a sbom::FileHashes,
}

impl Job<'_> {
    fn new<'a>(
        format: &'static dyn PackageFormat,
        arch: Option<Arch>,
        plans: Vec<&'a Plan>,
        hashes: &'a sbom::FileHashes,
    ) -> Option<Job<'a>> {
        let outputs = format.outputs(&plans);
        let artifact = outputs.first()?;
        let steps: Vec<_> = after::STEPS
            .iter()
            .map(|s| (*s, s.outputs(&plans, artifact)))
            .filter(|(_, o)| !o.is_empty())
            .collect();
        let key = artifact_key(format, &plans, &steps);
        Some(Job {
            format,
            arch,
            plans,
            outputs,
            steps,
            key,
            hashes,
        })
    }

    /// Every name the job places in the out dir: the writer's, then the steps'.
    fn all_outputs(&self) -> impl Iterator<Item = &Output> {
        self.outputs
            .iter()
            .chain(self.steps.iter().flat_map(|(_, o)| o))
    }

    fn name(&self) -> &str {
        self.outputs.first().map_or("", |o| o.name.as_str())
    }

    /// Writes the job's outputs into `dir` (the out dir, or a fresh store entry): the artifact,
    /// then each step on the writer's typed result, which it returns.
    fn write(&self, dir: &Path, segments: Segments) -> Result<Written, AppError> {
        let written = self
            .format
            .write(&self.plans, dir, &self.outputs, segments)?;
        let input = after::StepInput {
            plans: &self.plans,
            written: &written,
            hashes: self.hashes,
        };
        for (step, outputs) in &self.steps {
            step.run(&input, outputs, dir)?;
        }
        Ok(written)
    }
}

/// The jobs of a build: one per format and arch, or one per format for all arches.
fn jobs<'a>(prep: &'a Prepared, hashes: &'a sbom::FileHashes) -> Result<Vec<Job<'a>>, AppError> {
    let mut jobs = Vec::new();
    for f in &prep.formats {
        let format = formats::get(*f).ok_or_else(|| unavailable(*f))?;
        match format.scope() {
            Scope::AllArches => {
                jobs.extend(Job::new(format, None, prep.plans.iter().collect(), hashes))
            }
            Scope::PerArch => jobs.extend(
                prep.plans
                    .iter()
                    .filter_map(|p| Job::new(format, Some(p.arch), vec![p], hashes)),
            ),
        }
    }
    Ok(jobs)
}

fn unavailable(f: Format) -> AppError {
    AppError::Input(format!(
        "--format {}: this build of lucia-pkg cannot write it yet",
        f.as_str()
    ))
}

/// Each format's own checks of the plans (what its writer would refuse), before anything is
/// written: `check` reports them too.
pub fn validate_formats(formats: &[Format], plans: &[Plan]) -> Result<(), AppError> {
    let all: Vec<&Plan> = plans.iter().collect();
    for f in formats {
        let format = formats::get(*f).ok_or_else(|| unavailable(*f))?;
        match format.scope() {
            Scope::AllArches => format.validate(&all)?,
            Scope::PerArch => all.iter().try_for_each(|p| format.validate(&[p]))?,
        }
    }
    Ok(())
}

/// Runs a build into `out` (see [`run_with`]) leaving unknown files there refused.
pub fn run(
    req: &Request,
    out: &Path,
    progress: &Progress,
    store: Option<&Store>,
) -> Result<BuildReport, AppError> {
    run_with(req, out, false, progress, store)
}

/// `--out` must be a directory (or not exist yet, or be creatable).
fn check_out_dir(out: &Path) -> Result<(), AppError> {
    let not_dir = |what: &str| {
        AppError::Input(format!(
            "--out must be a directory: {} {what}",
            out.display()
        ))
    };
    match std::fs::metadata(out) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(not_dir("is a file")),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            Err(not_dir("is below a file, not a directory"))
        }
        Err(_) => Ok(()),
    }
}

/// `--clean` deletes whatever is in the out dir; never when that would take the manifest with it.
fn check_clean_is_safe(out: &Path, manifest: &Path) -> Result<(), AppError> {
    let Ok(out_c) = out.canonicalize() else {
        return Ok(()); // does not exist yet: nothing to delete
    };
    let home = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok());
    let manifest_c = manifest
        .canonicalize()
        .unwrap_or_else(|_| manifest.to_path_buf());
    let why = if out_c.parent().is_none() || Some(&out_c) == home.as_ref() {
        Some("it is / or your home directory")
    } else if manifest_c.starts_with(&out_c) {
        Some("it contains the manifest")
    } else {
        None
    };
    match why {
        Some(why) => Err(AppError::Input(format!(
            "--clean would delete everything in --out {}, and {why}: choose an out dir of its own",
            out.display()
        ))),
        None => Ok(()),
    }
}

/// Runs a build into `out`. With a store, unchanged outputs are linked from it instead of being
/// rebuilt ("cached"); without one (`--no-cache`), everything is written straight to `out`.
///
/// Afterwards `out` holds exactly what `SHA256SUMS` lists: outputs the previous build of the
/// same package recorded in its build-info.json and this one does not make are removed; any
/// other file there is refused before anything is written, unless `clean` says to delete it.
pub fn run_with(
    req: &Request,
    out: &Path,
    clean: bool,
    progress: &Progress,
    store: Option<&Store>,
) -> Result<BuildReport, AppError> {
    check_out_dir(out)?;
    let prep = prepare(req, store)?;
    if clean {
        check_clean_is_safe(out, &req.manifest)?;
    }
    output::prepare_out_dir(out).map_err(|e| AppError::Build(format!("{}: {e}", out.display())))?;
    let hashes = sbom::FileHashes::new(&prep.plans);
    let jobs = jobs(&prep, &hashes)?;
    let new_names: std::collections::BTreeSet<String> = jobs
        .iter()
        .flat_map(|j| j.all_outputs().map(|o| o.name.clone()))
        .collect();
    let sweep = output::plan_sweep(out, &prep.spec.meta.name, &new_names, clean)?;
    type JobResult = Result<(Vec<Artifact>, Option<store::Linked>, store::FileDigests), AppError>;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let tasks: Vec<schedule::Task<&Job>> = jobs
        .iter()
        .map(|job| {
            let codec = job
                .plans
                .first()
                .map(|p| job.format.codec(p))
                .unwrap_or_default();
            let bytes: u64 = job.plans.iter().map(|p| p.payload_size()).sum();
            schedule::Task {
                cost: bytes.max(1).saturating_mul(codec.relative_cost()),
                memory_mb: codec.working_memory_mb(),
                item: job,
            }
        })
        .collect();
    let results: Vec<JobResult> = schedule::run(tasks, threads, |job: &&Job| {
        let job: &Job = job;
        let started = Instant::now();
        let bar = progress.job(job.name());
        // With a store, every output's sha256 comes from the pass that NAR-hashed (or
        // verified) its entry: the outputs are not read again here.
        // The writer's typed result when this run wrote the job (none on a store hit).
        let written = std::cell::RefCell::new(None);
        let (cached, pulled, linked, digests) = match store {
            None => {
                *written.borrow_mut() = Some(job.write(out, None)?);
                (false, false, None, store::FileDigests::new())
            }
            Some(st) => {
                let key = BuildKey::parse(&job.key)
                    .ok_or_else(|| AppError::Build("bad build key".into()))?;
                let build = |dir: &Path| {
                    let w = job
                        .write(dir, Some(st.segments()))
                        .map_err(|e| e.render(false))?;
                    *written.borrow_mut() = Some(w);
                    Ok(())
                };
                let mut put = st.put(&key, job.name(), build).map_err(AppError::build)?;
                // Never serve an entry that changed since it was written (e.g. an artifact
                // edited in place through its hard link in an out dir): drop it and rebuild.
                // (A pulled entry was just verified by its NAR hash.)
                if put.cached && !put.pulled {
                    match st.verified_files(&put.entry).map_err(AppError::build)? {
                        Some(files) => put.files = Some(files),
                        None => {
                            st.remove(&put.entry).map_err(AppError::build)?;
                            put = st.put(&key, job.name(), build).map_err(AppError::build)?;
                        }
                    }
                }
                let linked = st.link_into(&put.entry, out).map_err(AppError::build)?;
                let files = put.files.unwrap_or_default();
                (put.cached, put.pulled, Some(linked), files)
            }
        };
        bar.finish();
        let seconds = started.elapsed().as_secs_f64();
        let mut arts = Vec::new();
        for o in job.all_outputs() {
            let name = &o.name;
            let path = out.join(name);
            let (size, sha256) = match o.shape {
                Shape::Dir => (0, String::new()),
                Shape::ImageLayout => match &*written.borrow() {
                    Some(Written::Image { index_digest, .. }) => (0, index_digest.clone()),
                    _ => (0, job.format.layout_digest(&path)?.unwrap_or_default()),
                },
                Shape::File => {
                    let (sha, size) = match digests.get(Path::new(name)) {
                        Some(&d) => d,
                        None => pkg_core::digest::sha256_file(&path)
                            .map_err(|e| AppError::Build(format!("{}: {e}", path.display())))?,
                    };
                    (size, hex::encode(sha))
                }
            };
            let format = o.label.to_string();
            arts.push(Artifact {
                name: name.clone(),
                format,
                arch: job.arch.map(|a| a.as_str().to_string()),
                size,
                sha256,
                key: job.key.clone(),
                seconds,
                cached,
                pulled,
            });
        }
        Ok((arts, linked, digests))
    });
    let mut artifacts = Vec::new();
    let mut linked = Vec::new();
    let mut digests = store::FileDigests::new();
    for r in results {
        let (a, l, d) = r?;
        artifacts.extend(a);
        linked.extend(l);
        digests.extend(d);
    }
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(st) = store {
        st.add_root(out, &linked).map_err(AppError::build)?;
    }

    let mut files = Vec::new();
    for a in &artifacts {
        let p = out.join(&a.name);
        if p.is_dir() {
            let known: Vec<FileRecord> = digests
                .range(PathBuf::from(&a.name)..)
                .take_while(|(rel, _)| rel.starts_with(&a.name))
                .map(|(rel, (sha, size))| FileRecord {
                    name: rel.to_string_lossy().into_owned(),
                    size: *size,
                    sha256: hex::encode(sha),
                })
                .collect();
            if known.is_empty() {
                files.extend(output::records_for_dir(out, &p)?);
            } else {
                files.extend(known);
            }
        } else {
            files.push(FileRecord {
                name: a.name.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
            });
        }
    }
    // Before the new records: a build stopped in between leaves the old build-info.json naming
    // files that are gone (harmless), never files that no record names.
    sweep.apply(out).map_err(AppError::build)?;
    let info = build_info(&prep, &artifacts);
    let info_text = serde_json::to_string_pretty(&info).map_err(AppError::build)? + "\n";
    let (size, sha256) = output::write_text_atomic(&out.join("build-info.json"), &info_text)?;
    files.push(FileRecord {
        name: "build-info.json".into(),
        size,
        sha256,
    });
    output::write_text_atomic(&out.join("SHA256SUMS"), &output::sha256sums(&files))?;
    Ok(BuildReport {
        out_dir: out.display().to_string(),
        source_date_epoch: prep.source_date,
        artifacts: artifacts
            .into_iter()
            .map(|a| ArtifactStatus {
                cached: a.cached,
                pulled: a.pulled,
                seconds: a.seconds,
                artifact: a,
            })
            .collect(),
        files,
        removed: sweep.names(),
        warnings: warnings(&prep)
            .into_iter()
            .chain(store.map(Store::remote_warnings).unwrap_or_default())
            .collect(),
        store: store.map(|s| s.root().display().to_string()),
        cache: store.and_then(Store::remote_stats),
        segments: store.map(|s| s.segments().stats()),
        payloads: prep
            .payloads
            .iter()
            .map(|(arch, p)| PayloadStatus {
                arch: arch.as_str().into(),
                nar_sha256: prep.payload_nar.get(arch).cloned().unwrap_or_default(),
                builder_key: p.builder_key.clone(),
                builder_cached: p.cached,
            })
            .collect(),
    })
}
