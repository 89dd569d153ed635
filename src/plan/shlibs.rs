//! Automatic shared-library dependencies of the ELF files a package installs, read from their
//! dynamic sections (`DT_NEEDED`, `DT_SONAME`, hash tags) and version-needed sections
//! (`SHT_GNU_verneed`, e.g. `GLIBC_2.34` of `libc.so.6`).
//!
//! **rpm** gets what rpmbuild's ELF dependency generator (`elfdeps --requires`, rpm 4.18 as in
//! Debian 12 and the same rules in current rpm) prints for each file, with the same filters:
//!
//! * only `ET_EXEC`/`ET_DYN` files, and none that has a program interpreter but no executable bit;
//! * `soname()(64bit)` for each `DT_NEEDED` and `soname(VERSION)(64bit)` for each needed version
//!   (without the `(64bit)` marker for 32-bit ELF, and `soname` alone when unversioned);
//! * sonames without `.so`, or not starting with `lib`, `ld.`, `ld-`, `ld64.`, `ld64-`, skipped;
//! * `rtld(GNU_HASH)` when a file has `DT_GNU_HASH` but no `DT_HASH`.
//!
//! Unlike rpmbuild, lucia-pkg adds no Provides for the package's own libraries; instead every
//! requirement a library of the same package satisfies (its `DT_SONAME`, else its file name, as
//! rpmbuild would provide it) is dropped, so private libraries of a self-contained payload are
//! neither exported nor required from the system.
//!
//! **deb** gets `libc6 (>= X)` when a file needs a glibc library, X being the highest `GLIBC_x.y`
//! version needed from it (what dpkg-shlibdeps derives from libc6's symbols file, whose versions
//! are the symbol versions). Other sonames are not mapped to Debian packages: that needs the
//! target distribution's shlibs/symbols database, which a build without network or chroot does
//! not have; declare them in `deb.depends`.
//!
//! The result is sorted and deduplicated, computed per arch, and stored in the plan (so it takes
//! part in every build key).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;

use object::elf;
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::read::{ReadCache, ReadRef};
use object::Endianness;
use pkg_core::plan::{Content, Entry, EntryKind};

/// The glibc libraries whose symbol versions decide the `libc6` dependency.
const GLIBC_SONAMES: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libmvec.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "libnsl.so.1",
    "libBrokenLocale.so.1",
    "libthread_db.so.1",
    "libc_malloc_debug.so.0",
    "ld-linux-x86-64.so.2",
    "ld-linux-aarch64.so.1",
    "ld-linux.so.2",
    "ld-linux-armhf.so.3",
];

/// What one ELF file needs and offers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// `(64bit)` for 64-bit ELF (except Alpha), else empty.
    pub marker: &'static str,
    pub is_dso: bool,
    pub has_interp: bool,
    pub needed: Vec<String>,
    /// `(soname, version)` pairs from the version-needed section.
    pub versions: Vec<(String, String)>,
    pub soname: Option<String>,
    pub got_hash: bool,
    pub got_gnu_hash: bool,
    pub got_debug: bool,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn parse<'data, Elf: FileHeader<Endian = Endianness>, R: ReadRef<'data>>(
    data: R,
) -> object::read::Result<Option<ElfInfo>> {
    let h = Elf::parse(data)?;
    let e = h.endian()?;
    let ty = h.e_type(e);
    if ty != elf::ET_EXEC && ty != elf::ET_DYN {
        return Ok(None);
    }
    let mut info = ElfInfo {
        marker: if h.is_class_64() && h.e_machine(e) != elf::EM_ALPHA {
            "(64bit)"
        } else {
            ""
        },
        is_dso: ty == elf::ET_DYN,
        ..Default::default()
    };
    info.has_interp = h
        .program_headers(e, data)?
        .iter()
        .any(|p| p.p_type(e) == elf::PT_INTERP);
    let sections = h.sections(e, data)?;
    if let Some((dyns, link)) = sections.dynamic(e, data)? {
        let strings = sections.strings(e, data, link)?;
        for d in dyns {
            let tag = d.d_tag(e);
            let val: u64 = d.d_val(e).into();
            let string = || {
                u32::try_from(val)
                    .ok()
                    .and_then(|o| strings.get(o).ok())
                    .map(text)
            };
            if tag == elf::DT_HASH {
                info.got_hash = true;
            } else if tag == elf::DT_GNU_HASH {
                info.got_gnu_hash = true;
            } else if tag == elf::DT_DEBUG {
                info.got_debug = true;
            } else if tag == elf::DT_SONAME {
                info.soname = string();
            } else if tag == elf::DT_NEEDED {
                info.needed.extend(string());
            }
        }
    }
    if let Some((mut needs, link)) = sections.gnu_verneed(e, data)? {
        let strings = sections.strings(e, data, link)?;
        while let Some((need, mut aux)) = needs.next()? {
            let Ok(file) = strings.get(need.vn_file.get(e)) else {
                break;
            };
            let file = text(file);
            while let Some(a) = aux.next()? {
                let Ok(name) = strings.get(a.vna_name.get(e)) else {
                    break;
                };
                info.versions.push((file.clone(), text(name)));
            }
        }
    }
    Ok(Some(info))
}

/// Reads one file's ELF dependency information; `None` when it is not an ELF executable or
/// shared object (or cannot be parsed, as rpm's elfdeps skips it).
pub fn read(content: &Content) -> std::io::Result<Option<ElfInfo>> {
    let mut head = [0u8; 5];
    let n = content.open()?.read(&mut head)?;
    if n < 5 || &head[..4] != b"\x7fELF" {
        return Ok(None);
    }
    let parsed = match content {
        Content::Disk(p) => {
            let cache = ReadCache::new(File::open(p)?);
            match head[4] {
                2 => parse::<elf::FileHeader64<Endianness>, _>(&cache),
                1 => parse::<elf::FileHeader32<Endianness>, _>(&cache),
                _ => return Ok(None),
            }
        }
        Content::Inline(b) => match head[4] {
            2 => parse::<elf::FileHeader64<Endianness>, _>(b.as_slice()),
            1 => parse::<elf::FileHeader32<Endianness>, _>(b.as_slice()),
            _ => return Ok(None),
        },
    };
    Ok(parsed.ok().flatten())
}

/// rpm's `skipSoname`: empty, without `.so`, or not a linkable library or the dynamic linker.
fn skip_soname(s: &str) -> bool {
    s.trim().is_empty()
        || !s.contains(".so")
        || !["ld.", "ld-", "ld64.", "ld64-", "lib"]
            .iter()
            .any(|p| s.starts_with(p))
}

/// A `GLIBC_x.y[.z]` version as numbers, for ordering.
fn glibc_version(v: &str) -> Option<Vec<u32>> {
    let n = v.strip_prefix("GLIBC_")?;
    n.split('.').map(|p| p.parse().ok()).collect()
}

/// The dependencies of a whole package (one arch).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SharedLibs {
    /// rpm Requires, sorted and deduplicated.
    pub rpm_requires: Vec<String>,
    /// deb Depends on libc6: `None` when no file needs glibc.
    pub deb_libc6: Option<String>,
}

/// One file's requirements as rpm's elfdeps prints them, with the soname each belongs to.
fn file_requires(i: &ElfInfo) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    // elfdeps' genRequires: no requires for an interpreter-carrying file without an exec bit.
    let dep = |soname: &str, ver: &str| {
        if ver.is_empty() && i.marker.is_empty() {
            soname.to_string()
        } else {
            format!("{soname}({ver}){}", i.marker)
        }
    };
    for n in &i.needed {
        if !skip_soname(n) {
            out.push((Some(n.clone()), dep(n, "")));
        }
    }
    for (file, ver) in &i.versions {
        if !skip_soname(file) {
            out.push((Some(file.clone()), dep(file, ver)));
        }
    }
    if i.got_gnu_hash && !i.got_hash {
        out.push((None, "rtld(GNU_HASH)".to_string()));
    }
    out
}

/// Scans every regular file of the plan.
pub fn scan(entries: &[&Entry]) -> std::io::Result<SharedLibs> {
    let mut provided = BTreeSet::new();
    let mut requires: Vec<(Option<String>, String)> = Vec::new();
    let mut glibc_needed = false;
    let mut glibc_max: Option<(Vec<u32>, String)> = None;
    for e in entries {
        let EntryKind::File { content, .. } = &e.kind else {
            continue;
        };
        let Some(info) = read(content)? else {
            continue;
        };
        // rpm's fake soname: a DSO without DT_SONAME provides its file name (not a PIE, which
        // carries DT_DEBUG).
        if info.is_dso && !info.got_debug {
            let name = info
                .soname
                .clone()
                .unwrap_or_else(|| e.path.rsplit('/').next().unwrap_or_default().to_string());
            provided.insert(name);
        }
        let executable = e.mode & 0o111 != 0;
        if info.has_interp && !executable {
            continue;
        }
        requires.extend(file_requires(&info));
        glibc_needed |= info
            .needed
            .iter()
            .any(|n| GLIBC_SONAMES.contains(&n.as_str()));
        for (file, ver) in &info.versions {
            if !GLIBC_SONAMES.contains(&file.as_str()) {
                continue;
            }
            glibc_needed = true;
            if let Some(v) = glibc_version(ver) {
                if glibc_max.as_ref().is_none_or(|(m, _)| v > *m) {
                    glibc_max = Some((v, ver["GLIBC_".len()..].to_string()));
                }
            }
        }
    }
    let rpm_requires: BTreeSet<String> = requires
        .into_iter()
        .filter(|(soname, _)| soname.as_ref().is_none_or(|s| !provided.contains(s)))
        .map(|(_, d)| d)
        .collect();
    let deb_libc6 = glibc_needed.then(|| match glibc_max {
        Some((_, v)) => format!("libc6 (>= {v})"),
        None => "libc6".to_string(),
    });
    Ok(SharedLibs {
        rpm_requires: rpm_requires.into_iter().collect(),
        deb_libc6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soname_filter_is_rpms() {
        for s in [
            "libc.so.6",
            "ld-linux-x86-64.so.2",
            "ld64.so.2",
            "libfoo.so",
        ] {
            assert!(!skip_soname(s), "{s}");
        }
        for s in ["", " ", "foo.so.1", "libfoo", "linux-vdso.so.1"] {
            assert!(skip_soname(s), "{s}");
        }
    }

    #[test]
    fn glibc_versions_order_numerically() {
        assert!(glibc_version("GLIBC_2.34") > glibc_version("GLIBC_2.4"));
        assert!(glibc_version("GLIBC_2.2.5") < glibc_version("GLIBC_2.17"));
        assert_eq!(glibc_version("GLIBC_PRIVATE"), None);
        assert_eq!(glibc_version("GLIBCXX_3.4"), None);
    }

    #[test]
    fn the_running_test_binary_needs_libc_like_elfdeps_says() {
        let exe = std::env::current_exe().unwrap();
        let info = read(&Content::Disk(exe)).unwrap().unwrap();
        assert!(info.needed.iter().any(|n| n == "libc.so.6"), "{info:?}");
        let reqs: Vec<String> = file_requires(&info).into_iter().map(|(_, d)| d).collect();
        assert!(reqs.contains(&"libc.so.6()(64bit)".to_string()), "{reqs:?}");
        assert!(
            reqs.iter().any(|r| r.starts_with("libc.so.6(GLIBC_2.")),
            "{reqs:?}"
        );
        // Not an ELF file.
        assert_eq!(
            read(&Content::inline(b"#!/bin/sh\n".to_vec())).unwrap(),
            None
        );
        assert_eq!(read(&Content::inline(b"\x7fELF".to_vec())).unwrap(), None);
    }
}
