## postrm remove: as debhelper, reload and mask the units whose files are gone (the admin's
## enablement is remembered until purge). Filled by format-deb's scripts.rs: #SYSTEMD_BOOTED# is
## pkg_core::lifecycle::SH_SYSTEMD_BOOTED, #UNITS# are shell words quoted by
## pkg_core::render::sh_quote.
if #SYSTEMD_BOOTED#; then
    systemctl --system daemon-reload >/dev/null || true
fi
if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper mask #UNITS# >/dev/null || true
fi
