## %post with units: reload systemd when it runs, then the first-install part. Filled by
## format-rpm's scriptlets.rs: #SYSTEMD_BOOTED# is pkg_core::lifecycle::SH_SYSTEMD_BOOTED,
## #FIRST_INSTALL# is post-first-install.sh (left out when nothing is enabled or started).
if #SYSTEMD_BOOTED# && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload || :
fi
#FIRST_INSTALL#
