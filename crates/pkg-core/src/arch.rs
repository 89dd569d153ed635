//! Architecture names. Peers keep shipping bugs where `arm64`, `aarch64`, `arm64v8` and `x86_64`
//! get mixed up between formats; here every spelling for every consumer comes from one table.

use std::fmt;
use std::str::FromStr;

/// A CPU architecture lucia-pkg can package for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
}

/// One row of the table: every name of one architecture.
#[derive(Debug, Clone, Copy)]
pub struct ArchNames {
    /// The name used in manifests and on the command line (Debian's).
    pub canonical: &'static str,
    pub deb: &'static str,
    pub rpm: &'static str,
    pub oci_arch: &'static str,
    pub oci_variant: Option<&'static str>,
    pub dotnet_rid: &'static str,
    pub nix_system: &'static str,
    pub rust_triple: &'static str,
    /// ELF `e_machine` value of binaries built for it.
    pub elf_machine: u16,
    /// Other spellings accepted on input.
    pub aliases: &'static [&'static str],
}

const TABLE: [(Arch, ArchNames); 2] = [
    (
        Arch::Amd64,
        ArchNames {
            canonical: "amd64",
            deb: "amd64",
            rpm: "x86_64",
            oci_arch: "amd64",
            oci_variant: None,
            dotnet_rid: "linux-x64",
            nix_system: "x86_64-linux",
            rust_triple: "x86_64-unknown-linux-gnu",
            elf_machine: 62, // EM_X86_64
            aliases: &[
                "amd64",
                "x86_64",
                "x86-64",
                "x64",
                "linux-x64",
                "linux/amd64",
            ],
        },
    ),
    (
        Arch::Arm64,
        ArchNames {
            canonical: "arm64",
            deb: "arm64",
            rpm: "aarch64",
            oci_arch: "arm64",
            oci_variant: Some("v8"),
            dotnet_rid: "linux-arm64",
            nix_system: "aarch64-linux",
            rust_triple: "aarch64-unknown-linux-gnu",
            elf_machine: 183, // EM_AARCH64
            aliases: &[
                "arm64",
                "aarch64",
                "arm64v8",
                "linux-arm64",
                "linux/arm64",
                "linux/arm64/v8",
            ],
        },
    ),
];

impl Arch {
    /// Every supported architecture, in the fixed order outputs list them.
    pub const ALL: [Arch; 2] = [Arch::Amd64, Arch::Arm64];

    pub fn names(self) -> &'static ArchNames {
        // The table has one row per variant; the match keeps that total.
        match self {
            Arch::Amd64 => &TABLE[0].1,
            Arch::Arm64 => &TABLE[1].1,
        }
    }
    pub fn as_str(self) -> &'static str {
        self.names().canonical
    }
    pub fn deb(self) -> &'static str {
        self.names().deb
    }
    pub fn rpm(self) -> &'static str {
        self.names().rpm
    }
    pub fn oci_arch(self) -> &'static str {
        self.names().oci_arch
    }
    pub fn oci_variant(self) -> Option<&'static str> {
        self.names().oci_variant
    }
    pub fn dotnet_rid(self) -> &'static str {
        self.names().dotnet_rid
    }
    pub fn nix_system(self) -> &'static str {
        self.names().nix_system
    }
    pub fn rust_triple(self) -> &'static str {
        self.names().rust_triple
    }
    pub fn elf_machine(self) -> u16 {
        self.names().elf_machine
    }
    /// The architecture whose ELF machine number this is, if any we support.
    pub fn from_elf_machine(machine: u16) -> Option<Arch> {
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }
    /// Human name of an ELF machine number, for error messages.
    pub fn describe_elf_machine(machine: u16) -> String {
        match machine {
            3 => "i386 (EM_386)".into(),
            40 => "32-bit ARM (EM_ARM)".into(),
            62 => "x86_64 (EM_X86_64)".into(),
            183 => "aarch64 (EM_AARCH64)".into(),
            243 => "riscv (EM_RISCV)".into(),
            other => format!("ELF machine {other}"),
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an architecture name nobody maps.
#[derive(Debug, thiserror::Error)]
#[error("unknown architecture `{0}`: use one of amd64 (x86_64), arm64 (aarch64)")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        TABLE
            .iter()
            .find(|(_, n)| n.aliases.contains(&lower.as_str()))
            .map(|(a, _)| *a)
            .ok_or_else(|| UnknownArch(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_consumer_name_is_right() {
        assert_eq!(Arch::Amd64.deb(), "amd64");
        assert_eq!(Arch::Amd64.rpm(), "x86_64");
        assert_eq!(Arch::Amd64.oci_arch(), "amd64");
        assert_eq!(Arch::Amd64.oci_variant(), None);
        assert_eq!(Arch::Amd64.dotnet_rid(), "linux-x64");
        assert_eq!(Arch::Amd64.nix_system(), "x86_64-linux");
        assert_eq!(Arch::Arm64.deb(), "arm64");
        assert_eq!(Arch::Arm64.rpm(), "aarch64");
        assert_eq!(Arch::Arm64.oci_arch(), "arm64");
        assert_eq!(Arch::Arm64.oci_variant(), Some("v8"));
        assert_eq!(Arch::Arm64.dotnet_rid(), "linux-arm64");
        assert_eq!(Arch::Arm64.nix_system(), "aarch64-linux");
        assert_eq!(Arch::from_elf_machine(62), Some(Arch::Amd64));
        assert_eq!(Arch::from_elf_machine(183), Some(Arch::Arm64));
        assert_eq!(Arch::from_elf_machine(40), None);
    }

    #[test]
    fn aliases_parse_and_unknown_is_refused() {
        for s in ["amd64", "x86_64", "X86_64", "linux-x64", "linux/amd64"] {
            assert_eq!(s.parse::<Arch>().ok(), Some(Arch::Amd64), "{s}");
        }
        for s in ["arm64", "aarch64", "arm64v8", "linux/arm64/v8"] {
            assert_eq!(s.parse::<Arch>().ok(), Some(Arch::Arm64), "{s}");
        }
        for s in ["armhf", "i386", "", "arm"] {
            assert!(s.parse::<Arch>().is_err(), "{s}");
        }
    }
}
