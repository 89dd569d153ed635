## Gives the environment file its group and mode once the group exists.
## Filled by pkg_core::lifecycle::ServiceIntent::sh_create_dirs: #FILE#, #USER# and #GROUP# are
## shell words quoted by pkg_core::render::sh_quote; #MODE# is four octal digits.
if [ -f #FILE# ]; then
    chown #USER#:#GROUP# #FILE#
    chmod #MODE# #FILE#
fi
