//! `install.sh`: applies the tarball's MANIFEST to a system (or a `DESTDIR`), with the same
//! lifecycle intent the deb and rpm scripts follow: create the user first, keep an existing config
//! file (writing the new template beside it as `.dist`), create state directories, reload systemd,
//! enable/start on first install and try-restart on re-install. Running it twice is harmless.

use pkg_core::lifecycle::sh_quote;
use pkg_core::plan::Plan;
use pkg_core::render::RenderError;

/// Values the script prints inside double quotes and comments (the package name and version,
/// already restricted by the manifest check) must not be able to end the quoting, expand, or end
/// the line.
fn plain_text<'a>(what: &str, v: &'a str) -> Result<&'a str, RenderError> {
    if v.chars().any(|c| c.is_control() || "\"$`\\".contains(c)) {
        return Err(RenderError::new(
            what,
            v,
            "install.sh",
            "it contains a control character, a quote, `$`, a backquote or a backslash",
        ));
    }
    Ok(v)
}

/// `cmd units` as an indented line, or nothing when the list is empty.
fn units_line(indent: &str, cmd: &str, units: &str) -> String {
    if units.is_empty() {
        String::new()
    } else {
        format!("{indent}{cmd} {units}\n")
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

/// The manifest's `[service.scripts]` as shell functions, called after the generated part of
/// their phase with a dpkg-like action word as `$1`: `install` or `upgrade` (pre/post-install),
/// `remove` (pre-remove), `remove` or `purge` (post-remove). A staged install (`DESTDIR`) runs
/// none of them, as it creates no users and starts nothing. The snippets are the manifest
/// author's own shell, trusted like the rest of the manifest.
fn snippet_functions(s: &pkg_core::lifecycle::Snippets) -> String {
    let mut out = String::new();
    for (name, code) in [
        ("pre_install", &s.pre_install),
        ("post_install", &s.post_install),
        ("pre_remove", &s.pre_remove),
        ("post_remove", &s.post_remove),
    ] {
        if let Some(c) = code.as_deref().filter(|c| !c.trim().is_empty()) {
            out.push_str(&format!(
                "# --- {name} from the manifest ($1: install, upgrade, remove or purge) ---\nsnippet_{name}() {{\n{}\n}}\n\n",
                c.trim_end()
            ));
        }
    }
    out
}

pub fn readme(plan: &Plan) -> String {
    format!(
        "{name} {version} for linux/{arch}\n\n{summary}\n\n\
         Install (as root):      ./install.sh\n\
         Staged install:         DESTDIR=/tmp/stage ./install.sh\n\
         Uninstall (keeps config and data): ./install.sh --uninstall\n\
         Uninstall everything but the user: ./install.sh --uninstall --purge\n\n\
         The installed tree is under root/; MANIFEST lists every entry with its mode and owner.\n",
        name = plan.meta.name,
        version = plan.meta.version.upstream,
        arch = plan.arch,
        summary = plan.meta.summary,
    )
}

/// The script. Every value from the plan is a shell word made by `sh_quote` (or checked by
/// [`plain_text`]); the account creation refuses values that cannot be rendered.
pub fn render(plan: &Plan) -> Result<String, RenderError> {
    let svc = plan.service.as_ref();
    let create_user = match svc {
        Some(s) => s.sh_create_user()?,
        None => String::new(),
    };
    let name = plain_text("package name", &plan.meta.name)?;
    let version = plain_text("version", &plan.meta.version.upstream)?;
    let arch = plan.arch;
    let mut dirs = String::new();
    for d in svc.map(|s| s.dirs.as_slice()).unwrap_or_default() {
        dirs.push_str(&format!(
            "ensure_dir {} {:04o} {} {}\n",
            sh_quote(&d.path),
            d.mode,
            sh_quote(&d.user),
            sh_quote(&d.group)
        ));
    }
    // Every list below comes from the lifecycle decision table (pkg_core::lifecycle).
    let purge_dirs: String = svc
        .map(|s| s.purge_dirs())
        .unwrap_or_default()
        .iter()
        .map(|d| format!("    rm -rf \"$DESTDIR\"{}\n", sh_quote(&d.path)))
        .collect();
    let list = |units: Vec<&pkg_core::lifecycle::UnitIntent>| {
        units
            .iter()
            .map(|u| sh_quote(&u.name))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let units_all = svc.map(|s| list(s.stop_on_removal())).unwrap_or_default();
    let units_enable = svc.map(|s| list(s.enable_on_install())).unwrap_or_default();
    let units_start = svc.map(|s| list(s.start_on_install())).unwrap_or_default();
    let units_restart = svc
        .map(|s| list(s.restart_on_upgrade()))
        .unwrap_or_default();
    let snippets = svc.map(|s| s.snippets.clone()).unwrap_or_default();
    let snippet_fns = snippet_functions(&snippets);
    let run_snippet = |name: &str, present: &Option<String>, arg: &str, indent: &str| {
        if present.as_deref().is_some_and(|c| !c.trim().is_empty()) {
            format!("{indent}[ -n \"$DESTDIR\" ] || snippet_{name} {arg}\n")
        } else {
            String::new()
        }
    };
    let pre_install = run_snippet("pre_install", &snippets.pre_install, "\"$PHASE\"", "    ");
    let post_install = run_snippet("post_install", &snippets.post_install, "\"$PHASE\"", "    ");
    let pre_remove = run_snippet("pre_remove", &snippets.pre_remove, "remove", "");
    let post_remove = run_snippet("post_remove", &snippets.post_remove, "\"$REMOVAL\"", "");
    let in12 = "            ";
    let first_install = format!(
        "{}{}",
        units_line(in12, "systemctl enable", &units_enable),
        units_line(in12, "systemctl start", &units_start)
    );
    let reinstall = units_line(in12, "systemctl try-restart", &units_restart);
    let nothing = |s: String| {
        if s.is_empty() {
            format!("{in12}:\n")
        } else {
            s
        }
    };
    let disable = if units_all.is_empty() {
        String::new()
    } else {
        format!("    if [ \"$SYSTEMD\" = 1 ]; then\n        systemctl disable --now {units_all} || true\n    fi\n")
    };
    Ok(format!(
        r##"#!/bin/sh
# install.sh for {name} {version} (linux/{arch}), generated by lucia-pkg from the package manifest.
#
#   ./install.sh                      install or upgrade (as root)
#   DESTDIR=/stage ./install.sh       install into a staging root (no users, no systemd actions)
#   ./install.sh --uninstall [--purge] remove files (--purge also removes config and state; never the user)
#
# Modes and owners come from MANIFEST, not from the extracted files. An existing config file is never
# overwritten: the new template is written beside it as <file>.dist.
set -eu

HERE=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
DESTDIR=${{DESTDIR:-}}
ACTION=install
PURGE=0
for arg in "$@"; do
    case "$arg" in
        --uninstall) ACTION=uninstall ;;
        --purge) PURGE=1 ;;
        DESTDIR=*) DESTDIR=${{arg#DESTDIR=}} ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
    esac
done
DESTDIR=${{DESTDIR%/}}

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1
if [ -z "$DESTDIR" ] && [ "$IS_ROOT" != 1 ]; then
    echo "install.sh: run as root, or give DESTDIR=/some/dir for a staged install" >&2
    exit 1
fi
SYSTEMD=0
[ -z "$DESTDIR" ] && {booted} && command -v systemctl >/dev/null 2>&1 && SYSTEMD=1

set_owner() {{ # path user group
    if [ "$IS_ROOT" = 1 ]; then
        if ! chown -h "$2:$3" "$1" 2>/dev/null; then
            [ -z "$DESTDIR" ] && {{ echo "install.sh: cannot chown $1 to $2:$3" >&2; exit 1; }}
            # In a DESTDIR the account may not exist on this host: leave root ownership.
            :
        fi
    fi
}}

ensure_dir() {{ # path mode user group
    d="$DESTDIR$1"
    if [ ! -d "$d" ]; then
        mkdir -p "$d"
        chmod "$2" "$d"
        set_owner "$d" "$3" "$4"
    fi
}}

# Copies $1 beside $2 under a fixed-length temporary name, then renames it into place: the temporary
# name does not grow with the file's own name, so any name the package managers can unpack
# installs here too.
place_file() {{ # src dst mode user group
    tmp="${{2%/*}}/.lucia-pkg-new.$$"
    rm -f "$tmp"
    cp "$1" "$tmp"
    chmod "$3" "$tmp"
    set_owner "$tmp" "$4" "$5"
    mv -f "$tmp" "$2"
}}

install_entries() {{
    while IFS='	' read -r kind mode user group path target; do
        dst="$DESTDIR$path"
        case "$kind" in
            d|D)
                [ -d "$dst" ] || mkdir -p "$dst"
                if [ "$kind" = d ]; then chmod "$mode" "$dst"; set_owner "$dst" "$user" "$group"; fi
                ;;
            f)
                place_file "$HERE/root$path" "$dst" "$mode" "$user" "$group"
                ;;
            c)
                if [ -e "$dst" ]; then
                    if ! cmp -s "$HERE/root$path" "$dst"; then
                        cp "$HERE/root$path" "$dst.dist"
                        chmod "$mode" "$dst.dist"
                        set_owner "$dst.dist" "$user" "$group"
                        echo "install.sh: kept your $path; the new template is $path.dist"
                    fi
                else
                    place_file "$HERE/root$path" "$dst" "$mode" "$user" "$group"
                fi
                ;;
            l)
                ln -sfn -- "$target" "$dst"
                ;;
            *) echo "install.sh: bad MANIFEST line for $path" >&2; exit 1 ;;
        esac
    done < "$HERE/MANIFEST"
}}

remove_entries() {{
    # Files first (reverse order puts children before parents), then owned dirs if empty.
    sort -r -t '	' -k5,5 "$HERE/MANIFEST" | while IFS='	' read -r kind mode user group path target; do
        dst="$DESTDIR$path"
        case "$kind" in
            f|l) rm -f "$dst" ;;
            c) if [ "$PURGE" = 1 ]; then rm -f "$dst" "$dst.dist"; fi ;;
            d) rmdir "$dst" 2>/dev/null || true ;;
            D) : ;;
        esac
    done
}}

{snippet_fns}if [ "$ACTION" = install ]; then
    FIRST=1
    [ -d "$DESTDIR"{install_dir} ] && FIRST=0
    PHASE=upgrade
    [ "$FIRST" = 1 ] && PHASE=install
    if [ -z "$DESTDIR" ]; then
        # The service account must exist before files are given its group.
{create_user}    fi
{pre_install}    install_entries
{dirs}    if [ "$SYSTEMD" = 1 ]; then
        systemctl daemon-reload
        if [ "$FIRST" = 1 ]; then
{first_install}        else
{reinstall}        fi
    fi
{post_install}    echo "install.sh: {name} {version} installed${{DESTDIR:+ into $DESTDIR}}"
else
    REMOVAL=remove
    [ "$PURGE" = 1 ] && REMOVAL=purge
{disable}{pre_remove_indented}    remove_entries
    if [ "$PURGE" = 1 ]; then
{purge_dirs}        :
    fi
    if [ "$SYSTEMD" = 1 ]; then systemctl daemon-reload; fi
{post_remove_indented}
    echo "install.sh: {name} removed (the system user is kept{keep_note})"
fi
"##,
        booted = pkg_core::lifecycle::SH_SYSTEMD_BOOTED,
        pre_remove_indented = indent(&pre_remove),
        post_remove_indented = indent(&post_remove),
        first_install = nothing(first_install),
        reinstall = nothing(reinstall),
        create_user = if create_user.is_empty() {
            ":\n".to_string()
        } else {
            create_user
        },
        install_dir = sh_quote(&plan.install_dir),
        keep_note = if purge_dirs.is_empty() {
            ""
        } else {
            "; --purge removes state"
        },
    ))
}
