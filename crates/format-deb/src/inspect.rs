//! `lucia-pkg inspect` for .deb files: control fields, conffiles, maintainer scripts and the file
//! list, read from a file nobody vouches for.
//!
//! Untrusted-input rules: nothing here panics on malformed bytes; the ar headers are parsed by
//! [`crate::ar_read`]; tar headers go through [`pkg_core::limits::walk_tar`] (raw mode, bounded
//! long names, PAX records, entry count and name bytes; the `tar` crate's own handling buffers
//! them without a limit); control members are capped here, the decoders' memory by
//! [`pkg_core::limits::decoder`], so a decompression bomb fails with an error instead of
//! exhausting memory. Payload contents are only streamed past, never stored.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use pkg_core::compress::Codec;
use pkg_core::limits::{self, escape, escape_line, read_small, walk_tar, MAX_ENTRIES};
use serde::Serialize;

use crate::ar_read;
use crate::DebError;

const MAX_CONTROL_MEMBER: u64 = 16 << 20;
const MAX_CONTROL_TOTAL: u64 = 64 << 20;

/// One member of the ar container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArMember {
    pub name: String,
    pub size: u64,
    pub mtime: u64,
    pub uid: u64,
    pub gid: u64,
    /// Octal, e.g. `100644`.
    pub mode: String,
}

/// One field of the `control` file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlField {
    pub name: String,
    /// Continuation lines are joined with `\n`, with their leading space kept.
    pub value: String,
}

/// A maintainer script (or other executable control member).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScriptRecord {
    pub name: String,
    /// Octal permission bits, e.g. `0755`.
    pub mode: String,
    pub size: u64,
    /// The text (invalid UTF-8 replaced).
    pub content: String,
}

/// One entry of data.tar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileRecord {
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `other`.
    pub kind: String,
    /// `ls -l` style, e.g. `-rwxr-xr-x`.
    pub permissions: String,
    /// Octal permission bits, e.g. `0755`.
    pub mode: String,
    pub user: String,
    pub group: String,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// As stored, e.g. `./opt/lucia/lucia.AgentHost`.
    pub path: String,
    pub link_target: Option<String>,
    /// From the md5sums control member, when listed there.
    pub md5: Option<String>,
}

/// What [`inspect`] found in a .deb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebReport {
    pub path: String,
    pub size: u64,
    /// Content of `debian-binary`, e.g. `2.0`.
    pub format_version: String,
    pub members: Vec<ArMember>,
    pub control_compression: String,
    pub data_compression: String,
    pub control: Vec<ControlField>,
    pub conffiles: Vec<String>,
    pub scripts: Vec<ScriptRecord>,
    /// Other control members (md5sums, triggers, shlibs…), by name.
    pub other_control_files: Vec<String>,
    pub files: Vec<FileRecord>,
}

impl DebReport {
    /// The value of a control field (first line only for multi-line fields).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.control
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.lines().next().unwrap_or(""))
    }
}

fn malformed(path: &Path, reason: impl Into<String>) -> DebError {
    DebError::Malformed {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// A member's decompressed stream, chosen by its name's extension as dpkg does.
fn member_reader<'a>(
    file: &'a mut File,
    m: &ar_read::Member,
) -> Result<(Box<dyn Read + 'a>, &'static str), String> {
    file.seek(SeekFrom::Start(m.offset))
        .map_err(|e| format!("seeking to {}: {e}", m.name))?;
    let raw = BufReader::new(Read::take(file, m.size));
    let ext = m.name.rsplit_once(".tar").map(|(_, e)| e).unwrap_or("");
    let (codec, name) = match ext {
        "" => (Codec::None, "none"),
        ".gz" => (Codec::Gzip(6), "gzip"),
        ".zst" => (Codec::Zstd(3), "zstd"),
        ".xz" => (Codec::Xz(6), "xz"),
        other => {
            return Err(format!(
                "member {} uses unsupported compression `{other}`",
                m.name
            ))
        }
    };
    let r = limits::decoder(codec, raw).map_err(|e| e.to_string())?;
    Ok((r, name))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn kind_name(k: tar::EntryType) -> (&'static str, char) {
    match k {
        tar::EntryType::Regular | tar::EntryType::Continuous => ("file", '-'),
        tar::EntryType::Directory => ("dir", 'd'),
        tar::EntryType::Symlink => ("symlink", 'l'),
        tar::EntryType::Link => ("hardlink", 'h'),
        tar::EntryType::Char => ("char", 'c'),
        tar::EntryType::Block => ("block", 'b'),
        tar::EntryType::Fifo => ("fifo", 'p'),
        _ => ("other", '?'),
    }
}

/// `-rwsr-x---` from a type character and permission bits.
fn permissions(t: char, mode: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(t);
    let bit = |m: u32, c: char| if mode & m != 0 { c } else { '-' };
    let special = |x: u32, sp: u32, on: char, off: char| match (mode & x != 0, mode & sp != 0) {
        (true, true) => on,
        (false, true) => off,
        (true, false) => 'x',
        (false, false) => '-',
    };
    s.push(bit(0o400, 'r'));
    s.push(bit(0o200, 'w'));
    s.push(special(0o100, 0o4000, 's', 'S'));
    s.push(bit(0o040, 'r'));
    s.push(bit(0o020, 'w'));
    s.push(special(0o010, 0o2000, 's', 'S'));
    s.push(bit(0o004, 'r'));
    s.push(bit(0o002, 'w'));
    s.push(special(0o001, 0o1000, 't', 'T'));
    s
}

fn parse_control(text: &str) -> Vec<ControlField> {
    let mut out: Vec<ControlField> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.value.push('\n');
                last.value.push_str(line);
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push(ControlField {
                name: k.trim().to_string(),
                value: v.trim().to_string(),
            });
        }
    }
    out
}

/// Reads a .deb and reports its control data, scripts and file list.
pub fn inspect(path: &Path) -> Result<DebReport, DebError> {
    let mut file = File::open(path).map_err(|e| DebError::io(&path.display().to_string(), e))?;
    let size = file
        .metadata()
        .map_err(|e| DebError::io(&path.display().to_string(), e))?
        .len();
    let members = ar_read::members(&mut file, size).map_err(|r| malformed(path, r))?;
    let find = |prefix: &str| {
        members
            .iter()
            .find(|m| m.name == prefix || m.name.starts_with(&format!("{prefix}.")))
    };
    let first = members
        .first()
        .ok_or_else(|| malformed(path, "empty ar archive"))?;
    if first.name != "debian-binary" {
        return Err(malformed(
            path,
            format!("the first member is `{}`, not `debian-binary`", first.name),
        ));
    }
    let first = first.clone();
    file.seek(SeekFrom::Start(first.offset))
        .map_err(|e| DebError::io("seeking", e))?;
    let version =
        read_small(&mut file, first.size, 64, "debian-binary").map_err(|r| malformed(path, r))?;
    let format_version = lossy(&version).trim().to_string();
    if !format_version.starts_with("2.") {
        return Err(malformed(
            path,
            format!("unsupported format version `{format_version}` (dpkg writes 2.0)"),
        ));
    }
    let control_m = find("control.tar")
        .ok_or_else(|| malformed(path, "no control.tar member"))?
        .clone();
    let data_m = find("data.tar")
        .ok_or_else(|| malformed(path, "no data.tar member"))?
        .clone();

    // control.tar
    let mut control = Vec::new();
    let mut conffiles = Vec::new();
    let mut scripts = Vec::new();
    let mut other = Vec::new();
    let mut md5: HashMap<String, String> = HashMap::new();
    let (mut r, control_compression) =
        member_reader(&mut file, &control_m).map_err(|e| malformed(path, e))?;
    let mut total = 0u64;
    walk_tar(&mut r, |item, content| {
        let content: &mut dyn Read = content;
        let name = item.path.trim_start_matches("./").to_string();
        if item.kind.is_dir() || name.is_empty() {
            return Ok(());
        }
        if !item.kind.is_file() {
            other.push(name);
            return Ok(());
        }
        total += item.size;
        if total > MAX_CONTROL_TOTAL {
            return Err(format!(
                "control.tar holds more than {MAX_CONTROL_TOTAL} bytes"
            ));
        }
        let bytes = read_small(
            content,
            item.size,
            MAX_CONTROL_MEMBER,
            &format!("control member {name}"),
        )?;
        let text = lossy(&bytes);
        match name.as_str() {
            "control" => control = parse_control(&text),
            "conffiles" => {
                conffiles = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            }
            "md5sums" => {
                for l in text.lines() {
                    if let Some((sum, p)) = l.split_once("  ") {
                        md5.insert(p.trim_start_matches("./").to_string(), sum.to_string());
                    }
                }
                other.push(name);
            }
            "preinst" | "postinst" | "prerm" | "postrm" | "config" => scripts.push(ScriptRecord {
                name,
                mode: format!("{:04o}", item.mode()? & 0o7777),
                size: item.size,
                content: text,
            }),
            _ => other.push(name),
        }
        Ok(())
    })
    .map_err(|e| malformed(path, format!("control.tar: {e}")))?;
    drop(r);
    if control.is_empty() {
        return Err(malformed(path, "control.tar has no control file"));
    }

    // data.tar: headers only; contents are skipped by the tar reader as it streams.
    let mut files = Vec::new();
    let (mut r, data_compression) =
        member_reader(&mut file, &data_m).map_err(|e| malformed(path, e))?;
    walk_tar(&mut r, |item, _| {
        // walk_tar bounds the count and the names; this keeps the report's own bound visible.
        if files.len() >= MAX_ENTRIES {
            return Err(format!("more than {MAX_ENTRIES} entries"));
        }
        let (kind, t) = kind_name(item.kind);
        let (mode, uid, gid) = (item.mode()?, item.uid()?, item.gid()?);
        let link_target = if matches!(kind, "symlink" | "hardlink") {
            item.link
        } else {
            None
        };
        files.push(FileRecord {
            kind: kind.to_string(),
            permissions: permissions(t, mode),
            mode: format!("{:04o}", mode & 0o7777),
            md5: if kind == "file" {
                md5.get(item.path.trim_start_matches("./")).cloned()
            } else {
                None
            },
            user: item.user,
            group: item.group,
            uid,
            gid,
            size: item.size,
            path: item.path,
            link_target,
        });
        Ok(())
    })
    .map_err(|e| malformed(path, format!("data.tar: {e}")))?;
    // A truncated compressed stream can end the tar walk early without an error; drain what
    // remains so corruption in the trailer is reported.
    io::copy(&mut r, &mut io::sink()).map_err(|e| malformed(path, format!("data.tar: {e}")))?;
    drop(r);

    Ok(DebReport {
        path: path.display().to_string(),
        size,
        format_version,
        members: members
            .iter()
            .map(|m| ArMember {
                name: m.name.clone(),
                size: m.size,
                mtime: m.mtime,
                uid: m.uid,
                gid: m.gid,
                mode: format!("{:o}", m.mode),
            })
            .collect(),
        control_compression: control_compression.to_string(),
        data_compression: data_compression.to_string(),
        control,
        conffiles,
        scripts,
        other_control_files: other,
        files,
    })
}

impl fmt::Display for DebReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: Debian binary package, format {}, {} bytes",
            escape(&self.path),
            escape(&self.format_version),
            self.size
        )?;
        writeln!(f, "ar members:")?;
        for m in &self.members {
            writeln!(
                f,
                "  {:<16} {:>12} bytes  mode {} uid {} gid {} mtime {}",
                escape(&m.name),
                m.size,
                m.mode,
                m.uid,
                m.gid,
                m.mtime
            )?;
        }
        writeln!(
            f,
            "compression: control {}, data {}",
            self.control_compression, self.data_compression
        )?;
        writeln!(f, "\ncontrol:")?;
        for c in &self.control {
            let mut lines = c.value.lines();
            writeln!(
                f,
                "  {}: {}",
                escape(&c.name),
                escape_line(lines.next().unwrap_or(""))
            )?;
            for l in lines {
                writeln!(f, "  {}", escape_line(l))?;
            }
        }
        writeln!(f, "\nconffiles ({}):", self.conffiles.len())?;
        for c in &self.conffiles {
            writeln!(f, "  {}", escape(c))?;
        }
        writeln!(f, "\nmaintainer scripts ({}):", self.scripts.len())?;
        for s in &self.scripts {
            writeln!(
                f,
                "  {:<9} {}  {:>7} bytes",
                escape(&s.name),
                s.mode,
                s.size
            )?;
        }
        if !self.other_control_files.is_empty() {
            writeln!(
                f,
                "\nother control files: {}",
                escape(&self.other_control_files.join(", "))
            )?;
        }
        writeln!(f, "\nfiles ({}):", self.files.len())?;
        for x in &self.files {
            let owner = format!("{}/{}", escape(&x.user), escape(&x.group));
            write!(
                f,
                "  {} {:<17} {:>10} {}",
                x.permissions,
                owner,
                x.size,
                escape(&x.path)
            )?;
            if let Some(t) = &x.link_target {
                write!(f, " -> {}", escape(t))?;
            }
            writeln!(f)?;
        }
        for s in &self.scripts {
            writeln!(f, "\n--- {} ---", escape(&s.name))?;
            for l in s.content.lines() {
                writeln!(f, "{}", escape_line(l))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_strings() {
        assert_eq!(permissions('-', 0o755), "-rwxr-xr-x");
        assert_eq!(permissions('d', 0o1777), "drwxrwxrwt");
        assert_eq!(permissions('-', 0o4640), "-rwSr-----");
        assert_eq!(permissions('-', 0o2755), "-rwxr-sr-x");
    }

    #[test]
    fn control_parsing_keeps_continuations() {
        let c = parse_control("Package: x\nDescription: s\n body\n .\n");
        assert_eq!(c[1].value, "s\n body\n .");
    }
}
