## debhelper's postinst enable logic for a unit the package enables (one copy per unit). Filled by
## format-deb's scripts.rs from the lifecycle table's enable list: #UNIT# is a shell word quoted
## by pkg_core::render::sh_quote.
deb-systemd-helper unmask #UNIT# >/dev/null || true
# was-enabled is true on first install, so new installations get enabled.
if deb-systemd-helper --quiet was-enabled #UNIT#; then
    deb-systemd-helper enable #UNIT# >/dev/null || true
else
    deb-systemd-helper update-state #UNIT# >/dev/null || true
fi
