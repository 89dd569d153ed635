## preinst. Filled by format-deb's scripts.rs: #HEADER# is header.sh, #FUNCTIONS# the
## lpkg_create_user function (function.sh around pkg-core's lifecycle/create-user.sh) when the
## service has an account, #INSTALL# the calls for install and upgrade (":" when there are none),
## #SNIPPET# snippet.sh when the manifest has a pre-install snippet.
#HEADER#
#FUNCTIONS#
case "$1" in
    install|upgrade)
        #INSTALL#
        ;;
    abort-upgrade)
        :
        ;;
    *)
        echo "preinst: ignoring unknown action '$1'" >&2
        ;;
esac

#SNIPPET#
exit 0
