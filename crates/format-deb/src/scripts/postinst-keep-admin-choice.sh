## The postinst logic for a unit the package does not enable (one copy per unit): an admin's
## enablement survives upgrades. Filled by format-deb's scripts.rs: #UNIT# is a shell word quoted
## by pkg_core::render::sh_quote.
# #UNIT# is not enabled by the package; keep an admin's choice across upgrades.
if deb-systemd-helper debian-installed #UNIT#; then
    deb-systemd-helper unmask #UNIT# >/dev/null || true
    if deb-systemd-helper --quiet was-enabled #UNIT#; then
        deb-systemd-helper enable #UNIT# >/dev/null || true
    fi
fi
deb-systemd-helper update-state #UNIT# >/dev/null || true
