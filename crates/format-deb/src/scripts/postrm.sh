## postrm. Filled by format-deb's scripts.rs: #HEADER# is header.sh, #FUNCTIONS# the
## lpkg_config_leftovers function (postrm-config-file.sh and postrm-config-dir.sh) when the
## package has files under /etc, #REMOVE# postrm-remove-units.sh when it has units (else ":"),
## #PURGE# postrm-purge-units.sh, postrm-purge-dirs.sh and the leftovers call as they apply,
## #SNIPPET# snippet.sh when the manifest has a post-remove snippet.
#HEADER#
#FUNCTIONS#
case "$1" in
    remove)
        #REMOVE#
        ;;
    purge)
        #PURGE#
        # The service account is kept on purge on purpose (files it owns may remain).
        ;;
    upgrade|failed-upgrade|abort-install|abort-upgrade|disappear)
        :
        ;;
    *)
        echo "postrm: ignoring unknown action '$1'" >&2
        ;;
esac

#SNIPPET#
exit 0
