## Creates the state directories through systemd-tmpfiles when it is there (deb postinst, rpm %post).
## Filled by pkg_core::lifecycle::ServiceIntent::sh_create_dirs: #TMPFILES# is the installed
## tmpfiles.d file, a shell word quoted by pkg_core::render::sh_quote.
if command -v systemd-tmpfiles >/dev/null 2>&1 && [ -f #TMPFILES# ]; then
    systemd-tmpfiles --create #TMPFILES# || true
fi
