## Enables the units the lifecycle table enables on first install; works offline (chroot, image
## build). Filled by format-rpm's scriptlets.rs: #UNITS# are shell words quoted by
## pkg_core::render::sh_quote.
if command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload enable #UNITS# || :
fi
