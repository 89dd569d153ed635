## One systemctl call on a list of the lifecycle table (first install: enable, start; re-install:
## try-restart). Filled by format-tar's install_script.rs: #VERB# is the systemctl command,
## #UNITS# are shell words quoted by pkg_core::render::sh_quote.
systemctl #VERB# #UNITS#
