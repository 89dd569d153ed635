## Body of lpkg_start_units: start on first install, restart on upgrade, only when systemd runs.
## Its $1 is postinst's $2, the previously configured version (empty on first install). Filled by
## format-deb's scripts.rs: #SYSTEMD_BOOTED# is pkg_core::lifecycle::SH_SYSTEMD_BOOTED;
## #START_OR_RESTART#, #START_ONLY# and #TRY_RESTART# are the postinst-*.sh fragments of the
## same names, each left out when its unit list is empty.
if #SYSTEMD_BOOTED#; then
    systemctl --system daemon-reload >/dev/null || true
    #START_OR_RESTART#
    #START_ONLY#
    #TRY_RESTART#
fi
