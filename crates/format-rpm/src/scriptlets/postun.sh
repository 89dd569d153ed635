## %postun with units: the unit files changed or vanished, so reload; an upgrade restarts the new
## binary. Filled by format-rpm's scriptlets.rs: #SYSTEMD_BOOTED# is
## pkg_core::lifecycle::SH_SYSTEMD_BOOTED, #TRY_RESTART# is postun-try-restart.sh (left out when
## no unit restarts after an upgrade).
if #SYSTEMD_BOOTED# && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || :
    #TRY_RESTART#
fi
