## Units restarted on upgrade but not started on install. #UNITS# are shell words quoted by
## pkg_core::render::sh_quote.
# Enabled but not started by the package: only a running service is restarted on upgrade.
if [ -n "$1" ]; then
    deb-systemd-invoke try-restart #UNITS# >/dev/null || true
fi
