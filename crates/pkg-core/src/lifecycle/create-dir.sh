## Creates one state directory by hand when systemd-tmpfiles did not (one copy per directory).
## Filled by pkg_core::lifecycle::ServiceIntent::sh_create_dirs: #DIR#, #USER# and #GROUP# are
## shell words quoted by pkg_core::render::sh_quote; #MODE# is four octal digits.
if [ ! -d #DIR# ]; then
    mkdir -p #DIR#
    chown #USER#:#GROUP# #DIR#
    chmod #MODE# #DIR#
fi
