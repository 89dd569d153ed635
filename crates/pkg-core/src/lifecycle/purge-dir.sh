## Removes one state directory the manifest marks for purge (deb postrm purge; one copy per directory).
## Filled by pkg_core::lifecycle::ServiceIntent::sh_purge_dirs: #DIR# is a shell word quoted by
## pkg_core::render::sh_quote.
rm -rf #DIR#
