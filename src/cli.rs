//! The command-line interface, defined once: `--help`, shell completions and the man page are all
//! generated from these definitions, so the docs cannot drift from the flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const AFTER_HELP: &str = "\
Exit codes:
  0  success
  1  the build (or push, verify) failed
  2  bad input: manifest, payload or arguments (the message names the file, line and column)

Environment:
  SOURCE_DATE_EPOCH   overrides the manifest's source-date-epoch (every timestamp in every artifact)
  LUCIA_PKG_STORE     location of the content-addressed store (default: $XDG_CACHE_HOME/lucia-pkg/store)
  LUCIA_PKG_REGISTRY_USER / LUCIA_PKG_REGISTRY_PASSWORD   credentials for `push`
  LUCIA_PKG_REGISTRY_TIMEOUT   seconds any one network step of `push` may take (default 30)";

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
    /// The manifest to build.
    #[arg(
        short,
        long,
        default_value = "packaging/lucia.toml",
        value_name = "FILE"
    )]
    pub manifest: PathBuf,
    /// Architectures, comma-separated (amd64, arm64) or `all` [default: all the manifest declares].
    #[arg(short, long, value_name = "LIST")]
    pub arch: Option<String>,
    /// Formats, comma-separated (tar, deb, rpm, oci) or `all` [default: all the manifest declares].
    #[arg(short, long, value_name = "LIST")]
    pub format: Option<String>,
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
        /// Also delete files in the out dir that no earlier build recorded (refused otherwise).
        /// Outputs of the previous build of the same package that this build does not make
        /// again (another arch, format or version) are always removed: afterwards the out dir
        /// holds exactly what SHA256SUMS lists.
        #[arg(long)]
        clean: bool,
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
    },
    /// Remove store entries no out directory refers to any more.
    Gc,
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Write the man pages (lucia-pkg.1 and one per subcommand) into a directory.
    Manpage {
        #[arg(default_value = "target/man", value_name = "DIR")]
        out: PathBuf,
    },
}
