## %pre: the account must exist before files owned by its group are laid down, so a failure here
## fails the install. Filled by format-rpm's scriptlets.rs: #CREATE_USER# is pkg-core's
## lifecycle/create-user.sh.
set -e
#CREATE_USER#
set +e
