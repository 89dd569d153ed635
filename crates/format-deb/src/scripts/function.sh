## A shell function holding a generated part (user, directories, units, /etc leftovers). Filled by
## format-deb's scripts.rs: #NAME# is an lpkg_* name, #BODY# filled fragments, kept at column 0
## since they may hold a here-document whose terminator must not be indented.
#NAME#() {
#BODY#
}

