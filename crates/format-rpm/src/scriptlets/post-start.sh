## Starts the units the lifecycle table starts on first install, only when systemd runs. Filled by
## format-rpm's scriptlets.rs: #SYSTEMD_BOOTED# is pkg_core::lifecycle::SH_SYSTEMD_BOOTED,
## #UNITS# are shell words quoted by pkg_core::render::sh_quote.
if #SYSTEMD_BOOTED# && command -v systemctl >/dev/null 2>&1; then
    systemctl start #UNITS# || :
fi
