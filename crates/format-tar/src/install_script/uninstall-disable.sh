## --uninstall: stop and disable every unit when systemd runs. Filled by format-tar's
## install_script.rs: #UNITS# are shell words quoted by pkg_core::render::sh_quote.
if [ "$SYSTEMD" = 1 ]; then
    systemctl disable --now #UNITS# || true
fi
