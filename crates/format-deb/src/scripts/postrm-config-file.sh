## lpkg_config_leftovers: what dpkg leaves of one config file (one copy per conffile). Filled by
## format-deb's scripts.rs: #BACKUPS# are the file's .dpkg-dist/-old/-new/-bak/-tmp names, shell
## words quoted by pkg_core::render::sh_quote.
rm -f #BACKUPS#
