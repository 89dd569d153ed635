## A [service.scripts] snippet as a shell function, called after the generated part of its phase.
## Filled by format-tar's install_script.rs: #NAME# is pre_install, post_install, pre_remove or
## post_remove; #CODE# is the manifest author's own shell.
# --- #NAME# from the manifest ($1: install, upgrade, remove or purge) ---
snippet_#NAME#() {
#CODE#
}

