## Units started but not restarted on upgrade. #UNITS# are shell words quoted by
## pkg_core::render::sh_quote.
deb-systemd-invoke start #UNITS# >/dev/null || true
