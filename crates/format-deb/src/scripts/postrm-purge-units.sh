## postrm purge: forget the units' enablement state. Filled by format-deb's scripts.rs: #UNITS#
## are shell words quoted by pkg_core::render::sh_quote.
if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge #UNITS# >/dev/null || true
    deb-systemd-helper unmask #UNITS# >/dev/null || true
fi
