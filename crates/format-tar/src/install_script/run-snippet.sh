## Calls a snippet function, except in a staged install (DESTDIR), which creates no users and
## starts nothing. Filled by format-tar's install_script.rs: #NAME# as in snippet-function.sh,
## #ARG# the action word: "$PHASE" (install or upgrade), remove, or "$REMOVAL" (remove or purge).
[ -n "$DESTDIR" ] || snippet_#NAME# #ARG#
