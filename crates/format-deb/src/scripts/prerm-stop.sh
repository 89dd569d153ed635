## prerm remove: stop every unit (the lifecycle table's removal list). Filled by format-deb's
## scripts.rs: #SYSTEMD_BOOTED# is pkg_core::lifecycle::SH_SYSTEMD_BOOTED, #UNITS# are shell
## words quoted by pkg_core::render::sh_quote.
# Stop only on real removal: an upgrade restarts the service in the new postinst.
if #SYSTEMD_BOOTED#; then
    deb-systemd-invoke stop #UNITS# >/dev/null || true
fi
