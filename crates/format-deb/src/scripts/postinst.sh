## postinst. Filled by format-deb's scripts.rs: #HEADER# is header.sh, #FUNCTIONS# the lpkg_*
## functions (function.sh around create-user.sh, pkg-core's directory fragments,
## postinst-enable.sh/postinst-keep-admin-choice.sh per unit and postinst-start-units.sh),
## #CONFIGURE# their calls (":" when there are none), #SNIPPET# snippet.sh when the manifest has
## a post-install snippet. Unknown actions come from future dpkg versions; failing on them would
## break upgrades of dpkg itself.
#HEADER#
#FUNCTIONS#
case "$1" in
    configure|abort-upgrade|abort-remove|abort-deconfigure)
        #CONFIGURE#
        ;;
    triggered|reconfigure)
        :
        ;;
    *)
        echo "postinst: ignoring unknown action '$1'" >&2
        ;;
esac

#SNIPPET#
exit 0
