## %postun on upgrade ($1 >= 1): try-restart the units the lifecycle table restarts. Filled by
## format-rpm's scriptlets.rs: #UNITS# are shell words quoted by pkg_core::render::sh_quote.
if [ "$1" -ge 1 ]; then
    systemctl try-restart #UNITS# || :
fi
