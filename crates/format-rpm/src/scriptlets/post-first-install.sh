## %post on first install only ($1 = 1). Filled by format-rpm's scriptlets.rs: #ENABLE# is
## post-enable.sh, #START# post-start.sh, each left out when its unit list is empty.
if [ "$1" -eq 1 ]; then
    #ENABLE#
    #START#
fi
