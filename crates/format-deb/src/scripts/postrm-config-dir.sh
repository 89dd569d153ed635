## lpkg_config_leftovers: one package directory under /etc, removed only if it ended up empty
## (deepest first). Filled by format-deb's scripts.rs: #DIR# is a shell word quoted by
## pkg_core::render::sh_quote.
rmdir #DIR# 2>/dev/null || true
