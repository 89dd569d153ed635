## --uninstall --purge: one state directory the manifest marks for purge. Filled by format-tar's
## install_script.rs: #DIR# is a shell word quoted by pkg_core::render::sh_quote.
rm -rf "$DESTDIR"#DIR#
