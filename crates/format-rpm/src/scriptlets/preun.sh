## %preun: only a real erase ($1 = 0) stops and disables; an upgrade leaves the service running.
## Filled by format-rpm's scriptlets.rs: #SYSTEMD_BOOTED# is
## pkg_core::lifecycle::SH_SYSTEMD_BOOTED, #UNITS# (every unit) are shell words quoted by
## pkg_core::render::sh_quote.
if [ "$1" -eq 0 ]; then
    if #SYSTEMD_BOOTED# && command -v systemctl >/dev/null 2>&1; then
        systemctl stop #UNITS# || :
    fi
    if command -v systemctl >/dev/null 2>&1; then
        systemctl --no-reload disable #UNITS# || :
    fi
fi
