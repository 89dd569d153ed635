## Creates the service group and user if missing (preinst/postinst, rpm %pre, install.sh).
## Filled by pkg_core::lifecycle::ServiceIntent::sh_create_user: #USER#, #GROUP#, #HOME#, #SHELL#,
## #GECOS# and #SYSUSERS_PATH# are shell words quoted by pkg_core::render::sh_quote;
## #SYSUSERS_CONF# is the sysusers.d file the package installs (pkg_core::render::config_line),
## which can never hold a line equal to the here-document terminator (checked before filling).
if ! getent group #GROUP# >/dev/null 2>&1 || ! getent passwd #USER# >/dev/null 2>&1; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
        systemd-sysusers --replace=#SYSUSERS_PATH# - <<'LUCIA_PKG_SYSUSERS' || true
#SYSUSERS_CONF#
LUCIA_PKG_SYSUSERS
    fi
fi
if ! getent group #GROUP# >/dev/null 2>&1; then
    if command -v groupadd >/dev/null 2>&1; then
        groupadd --system #GROUP#
    else
        addgroup --system #GROUP#
    fi
fi
if ! getent passwd #USER# >/dev/null 2>&1; then
    if command -v useradd >/dev/null 2>&1; then
        useradd --system --gid #GROUP# --home-dir #HOME# --no-create-home --shell #SHELL# --comment #GECOS# #USER#
    else
        adduser --system --ingroup #GROUP# --home #HOME# --no-create-home --shell #SHELL# --gecos #GECOS# #USER#
    fi
fi
