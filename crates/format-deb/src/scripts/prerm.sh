## prerm. Filled by format-deb's scripts.rs: #HEADER# is header.sh, #REMOVE# prerm-stop.sh when
## the package has units (else ":"), #SNIPPET# snippet.sh when the manifest has a pre-remove
## snippet.
#HEADER#
case "$1" in
    remove)
        #REMOVE#
        ;;
    upgrade|deconfigure|failed-upgrade)
        :
        ;;
    *)
        echo "prerm: ignoring unknown action '$1'" >&2
        ;;
esac

#SNIPPET#
exit 0
