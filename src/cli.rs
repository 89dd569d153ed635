//! The command-line interface, defined once: `--help`, shell completions and the man page are all
//! generated from these definitions, so the docs cannot drift from the flags.

use std::path::PathBuf;

use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

pub const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the build (or push, verify) failed
  2  bad input: manifest, payload or arguments (the message names the file, line and column)

Environment:
  SOURCE_DATE_EPOCH   overrides the manifest's source-date-epoch (every timestamp in every artifact)
  LUCIA_PKG_STORE     location of the content-addressed store (default: $XDG_CACHE_HOME/lucia-pkg/store)
  LUCIA_PKG_CACHE     a registry repository shared as a build cache when --cache is not given
  LUCIA_PKG_REGISTRY_USER / LUCIA_PKG_REGISTRY_PASSWORD   credentials for `push`
  LUCIA_PKG_REGISTRY_TIMEOUT   seconds any one network step of `push` may take (default 30)
  LUCIA_PKG_REPO_KEY   signing key for `repo` when --key is not given (armored key or file path)
  LUCIA_PKG_IMAGE_KEY  signing key for `sign-image` when --key is not given (PEM key or file path)";

#[derive(Debug, Parser)]
#[command(
    name = "lucia-pkg",
    version,
    about = "One manifest → reproducible deb, rpm, tar.gz and multi-arch OCI release artifacts for a Linux service",
    long_about = "lucia-pkg turns one TOML manifest into every release artifact of a Linux service — .deb, .rpm, \
a .tar.gz with install.sh, and an OCI image index for linux/amd64 and linux/arm64 — bit-for-bit reproducibly, \
without root and without a container daemon.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// More detail (per-step timings, cache keys).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Never show progress bars, even on a terminal.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Selection {
    /// The manifest to build [default: the first of lucia-pkg.toml, packaging/lucia-pkg.toml,
    /// packaging/lucia.toml that exists].
    #[arg(short, long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Architectures, comma-separated (amd64, arm64) or `all` [default: all the manifest declares].
    #[arg(short, long, value_name = "LIST", value_parser = ListParser(arch_words), hide_possible_values = true)]
    pub arch: Option<String>,
    /// Formats, comma-separated (tar, deb, rpm, oci) or `all` [default: all the manifest declares].
    #[arg(short, long, value_name = "LIST", value_parser = ListParser(format_words), hide_possible_values = true)]
    pub format: Option<String>,
    /// Override a manifest value for this run (repeatable): package.version, package.release or
    /// package.revision, e.g. --set package.version=1.2.3. Recorded in build-info.json.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Where `-m` is looked for when not given, in order: the tool's own name in the current
/// directory (what `lucia-pkg init` writes), the same under packaging/, and the first release's
/// example location.
pub const DEFAULT_MANIFESTS: &[&str] = &[
    "lucia-pkg.toml",
    "packaging/lucia-pkg.toml",
    "packaging/lucia.toml",
];

impl Selection {
    /// The manifest to use: `-m`, else the first default location that exists.
    pub fn manifest_path(&self) -> Result<PathBuf, crate::error::AppError> {
        if let Some(m) = &self.manifest {
            return Ok(m.clone());
        }
        DEFAULT_MANIFESTS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                crate::error::AppError::Input(format!(
                    "no manifest given and none found (looked for {}); give one with -m FILE, or scaffold one with `lucia-pkg init --payload DIR`",
                    DEFAULT_MANIFESTS.join(", ")
                ))
            })
    }
}

/// What `-a` list items may be: every architecture lucia-pkg knows, and `all` (checked by
/// `build::parse_arch_list`; listed for help and shell completion).
pub fn arch_words() -> Vec<&'static str> {
    pkg_core::Arch::ALL
        .iter()
        .map(|a| a.as_str())
        .chain(["all"])
        .collect()
}

/// What `-f` list items may be: every format in the registry (`src/formats/mod.rs`), and `all`.
pub fn format_words() -> Vec<&'static str> {
    crate::formats::REGISTRY
        .iter()
        .map(|d| d.format().as_str())
        .chain(["all"])
        .collect()
}

/// A comma-separated list taken as a string (checked later, with a message naming the bad
/// item), whose items shells can complete.
#[derive(Clone)]
pub struct ListParser(fn() -> Vec<&'static str>);

impl TypedValueParser for ListParser {
    type Value = String;
    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }
    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.0)().into_iter().map(PossibleValue::new)))
    }
}

/// The bash completion script, with two fixes over clap_complete's:
/// - a hyphenated binary name (`lucia-pkg`) made the per-subcommand `case` labels
///   (`lucia__subcmd__pkg__subcmd__build`) disagree with the state the loop computes
///   (`lucia__pkg__subcmd__build`), so nothing completed after the subcommand
///   (clap-rs/clap#6421); a no-op once clap_complete spells both the same way;
/// - `-a`/`-f` take comma lists: the item after the last comma completes, keeping the prefix.
pub fn bash_completion(script: &str) -> String {
    let mut s = script.replace("lucia__subcmd__pkg", "lucia__pkg");
    for values in [arch_words(), format_words()] {
        let words = values.join(" ");
        let items = values
            .iter()
            .filter(|v| **v != "all")
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        s = s.replace(
            &format!("COMPREPLY=($(compgen -W \"{words}\" -- \"${{cur}}\"))"),
            &format!("_lucia_pkg_list \"{words}\" \"{items}\" \"${{cur}}\""),
        );
    }
    format!(
        "{s}
# Completes the item after the last comma of a list option ($1: first-item words, $2: later items).
_lucia_pkg_list() {{
    local cur=\"$3\" pre=\"\" words=\"$1\"
    if [[ \"$cur\" == *,* ]]; then
        pre=\"${{cur%,*}},\"
        cur=\"${{cur##*,}}\"
        words=\"$2\"
    fi
    COMPREPLY=($(compgen -P \"$pre\" -W \"$words\" -- \"$cur\"))
}}
"
    )
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build release artifacts into the out directory.
    Build {
        #[command(flatten)]
        sel: Selection,
        /// Output directory.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// Source revision recorded in OCI annotations (overrides the manifest's `revision`).
        #[arg(long, value_name = "REV")]
        revision: Option<String>,
        /// Do not use or fill the content-addressed store.
        #[arg(long)]
        no_cache: bool,
        /// Share the store through a registry repository (REGISTRY[:PORT]/REPOSITORY, the
        /// credentials of `push`): entries are taken from it, verified by NAR hash, before
        /// anything is built, and what is built is published to it. An unreachable registry
        /// only warns. [env: LUCIA_PKG_CACHE]
        #[arg(long, value_name = "REF", conflicts_with = "no_cache")]
        cache: Option<String>,
        /// Also delete files in the out dir that no earlier build recorded (refused otherwise).
        /// Outputs of the previous build of the same package that this build does not make
        /// again (another arch, format or version) are always removed: afterwards the out dir
        /// holds exactly what SHA256SUMS lists.
        #[arg(long)]
        clean: bool,
    },
    /// Scaffold a commented manifest, a hardened systemd unit and an env template from a
    /// service's build output (detects each payload's architecture and the entrypoint).
    Init {
        /// Project directory to write lucia-pkg.toml, <name>.service and <name>.env into.
        #[arg(default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// The service's build output (repeat once per architecture).
        #[arg(short, long = "payload", value_name = "DIR")]
        payloads: Vec<PathBuf>,
        /// Package name [default: from the entrypoint's file name].
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Upstream version to start from.
        #[arg(long = "version", default_value = "0.1.0", value_name = "VERSION")]
        pkg_version: String,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Validate the manifest and the payload; write nothing.
    Check {
        #[command(flatten)]
        sel: Selection,
    },
    /// Show the metadata and file list of an artifact lucia-pkg made (.tar.gz, .deb, .rpm, OCI layout or archive).
    Inspect {
        /// The artifact.
        file: PathBuf,
    },
    /// Build everything twice in isolated directories with varied environment and compare byte for byte.
    Verify {
        #[command(flatten)]
        sel: Selection,
        /// Keep the two build trees for inspection (e.g. with diffoscope).
        #[arg(long)]
        keep: bool,
    },
    /// Print the Nix NAR sha256 of a path (SRI form, as `nix hash path` prints it).
    Hash {
        path: PathBuf,
        /// Print nix-base32 (`nix-hash --type sha256 --base32`) instead of SRI.
        #[arg(long)]
        base32: bool,
    },
    /// Push an OCI layout or archive to a registry, digests unchanged.
    Push {
        /// OCI layout directory or archive [default: the OCI output of the last build in --out].
        source: Option<PathBuf>,
        /// Destination `REGISTRY/REPO[:TAG]`.
        #[arg(long, value_name = "REF")]
        to: String,
        /// Extra tags to point at the index (repeatable); the layout's version tag is always pushed too.
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// The manifest the layout was built from: its `oci.tags` are pushed too (its version must be the layout's).
        #[arg(short, long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Out directory to take the last build's OCI output from.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// Allow plain HTTP to a non-loopback registry.
        #[arg(long)]
        insecure_http: bool,
        /// Push only the image: not the signature from `sign-image`, the SBOMs or the
        /// provenance found beside the layout (attached by default; see docs/image-signing.md).
        #[arg(long)]
        no_attach: bool,
    },
    /// Sign the last build's OCI image for cosign: writes image-signature/payload.json (the
    /// simple-signing payload naming the index digest) and image-signature/signature (ECDSA
    /// P-256, base64 DER) into the out dir; `push` publishes them as cosign does.
    SignImage {
        /// Out directory holding the build's OCI layout.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// Where the image is pushed, REGISTRY/REPOSITORY (the payload's docker-reference).
        #[arg(long, value_name = "REGISTRY/REPO")]
        repository: String,
        /// PEM PKCS#8 ECDSA P-256 private key [default: $LUCIA_PKG_IMAGE_KEY, the PEM text
        /// itself or a file path]. Passphrase from $LUCIA_PKG_SIGNING_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Sign the out dir's SHA256SUMS into SHA256SUMS.sig (`ssh-keygen -Y sign -n file` format)
    /// with an OpenSSH Ed25519 key; verify with `ssh-keygen -Y verify ... -n file`.
    SignSums {
        /// Out directory holding SHA256SUMS.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// OpenSSH Ed25519 private key [default: $LUCIA_PKG_SUMS_KEY, the key itself or
        /// a file path]; with --openpgp, an armored OpenPGP secret key [default:
        /// $LUCIA_PKG_REPO_KEY]. Passphrase from $LUCIA_PKG_SIGNING_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Sign with an OpenPGP key instead: SHA256SUMS.asc, verified with `gpg --verify`.
        #[arg(long)]
        openpgp: bool,
    },
    /// Write SLSA provenance for the out dir (provenance.intoto.jsonl: an in-toto statement in a
    /// DSSE envelope) signed with the OpenSSH Ed25519 key sign-sums uses; see docs/provenance.md.
    Attest {
        /// Out directory holding SHA256SUMS and build-info.json.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// OpenSSH Ed25519 private key [default: $LUCIA_PKG_SUMS_KEY, the key itself or
        /// a file path]. Passphrase from $LUCIA_PKG_SIGNING_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Verify a signed out dir offline from public keys: SHA256SUMS, SHA256SUMS.sig, the
    /// provenance, the image signature, the image SBOMs and APT/DNF repositories, one ok/FAILED
    /// line each (exit 1 if any failed); see docs/provenance.md.
    VerifyRelease {
        /// Out directory to verify.
        #[arg(short, long, default_value = "dist", value_name = "DIR")]
        out: PathBuf,
        /// OpenSSH Ed25519 public key (`.pub`) for SHA256SUMS.sig and the provenance.
        #[arg(long, value_name = "FILE")]
        sums_key: Option<PathBuf>,
        /// PEM ECDSA P-256 public key for image-signature/.
        #[arg(long, value_name = "FILE")]
        image_key: Option<PathBuf>,
        /// ASCII-armored OpenPGP public key for the --apt-repo and --dnf-repo signatures.
        #[arg(long, value_name = "FILE")]
        repo_key: Option<PathBuf>,
        /// An APT repository `repo apt` wrote (repeatable): InRelease, Release.gpg, Release's
        /// files and every package its Packages indexes name.
        #[arg(long, value_name = "DIR")]
        apt_repo: Vec<PathBuf>,
        /// A DNF repository `repo dnf` wrote (repeatable): repomd.xml.asc, the repodata files
        /// and every package primary.xml names.
        #[arg(long, value_name = "DIR")]
        dnf_repo: Vec<PathBuf>,
    },
    /// Build or extend a package repository (a static directory any web host can serve) from
    /// built packages; see docs/repositories.md.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Remove store entries no out directory refers to any more.
    Gc,
    /// Export store entries for other tools: `cache export --nix DIR` writes a Nix binary
    /// cache `nix copy --from file://DIR` reads (see docs/nix.md).
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (lucia-pkg.1 and one per subcommand) into a directory.
    Manpage {
        #[arg(default_value = "target/man", value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// APT repository: pool/, dists/SUITE/COMPONENT/binary-ARCH/Packages{,.gz,.xz}, Release,
    /// and InRelease + Release.gpg when a key is given. Packages already in the pool are kept.
    Apt {
        /// Repository directory (created if missing; an existing one is extended).
        #[arg(short, long, value_name = "DIR")]
        out: PathBuf,
        /// Suite (also written as Codename): `deb URL SUITE COMPONENT` in sources.list.
        #[arg(long, default_value = "stable", value_name = "NAME")]
        suite: String,
        /// Component the given packages go into.
        #[arg(long, default_value = "main", value_name = "NAME")]
        component: String,
        /// Release `Origin:` (apt pinning matches on it).
        #[arg(long, default_value = "lucia-pkg", value_name = "TEXT")]
        origin: String,
        /// Release `Label:` [default: the origin].
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// ASCII-armored OpenPGP v4 secret key (RSA, Ed25519 or ECDSA) to sign the Release with
        /// [default: $LUCIA_PKG_REPO_KEY, the armored key itself or a file path; unset: unsigned].
        /// Passphrase from $LUCIA_PKG_SIGNING_PASSPHRASE.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// .deb files, or directories searched for *.deb.
        #[arg(required = true, value_name = "DEB_OR_DIR")]
        inputs: Vec<PathBuf>,
    },
    /// DNF/YUM repository: Packages/, repodata/repomd.xml with primary, filelists and other
    /// metadata, and repomd.xml.asc when a key is given. Packages already there are kept.
    Dnf(DnfArgs),
}

#[derive(Debug, Args)]
pub struct DnfArgs {
    /// Repository directory (created if missing; an existing one is extended).
    #[arg(short, long, value_name = "DIR")]
    pub out: PathBuf,
    /// Metadata compression: gzip (every yum and dnf, EL7 included) or zstd (dnf on EL8+).
    #[arg(long, default_value = "gzip", value_name = "CODEC", value_parser = ["gzip", "zstd"])]
    pub compression: String,
    /// ASCII-armored OpenPGP v4 secret key (RSA, Ed25519 or ECDSA) to sign repomd.xml with
    /// [default: $LUCIA_PKG_REPO_KEY, the armored key itself or a file path; unset: unsigned].
    /// Passphrase from $LUCIA_PKG_SIGNING_PASSPHRASE.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// .rpm files, or directories (build out dirs) searched for *.rpm.
    #[arg(required = true, value_name = "RPM_OR_DIR")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Write store entries as a Nix binary cache: nix-cache-info, one <hash>.narinfo per store
    /// path (content-addressed, optionally signed) and nar/<hash>.nar.xz. An earlier export in
    /// the same directory is replaced.
    Export(CacheExportArgs),
}

#[derive(Debug, Args)]
pub struct CacheExportArgs {
    /// The binary cache directory to write (new, empty, or an earlier export).
    #[arg(long, value_name = "DIR")]
    pub nix: PathBuf,
    /// Export only the entries a build linked into this out dir (still unchanged there)
    /// [default: every store entry].
    #[arg(short, long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Nix signing key (`nix key generate-secret --key-name NAME`): adds a Sig: to each
    /// narinfo.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
}
