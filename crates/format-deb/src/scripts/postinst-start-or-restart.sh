## Units both started on install and restarted on upgrade: restart when a previous version was
## configured, else start (as debhelper does). #UNITS# are shell words quoted by
## pkg_core::render::sh_quote.
if [ -n "$1" ]; then
    deb-systemd-invoke restart #UNITS# >/dev/null || true
else
    deb-systemd-invoke start #UNITS# >/dev/null || true
fi
