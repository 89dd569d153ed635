## A [service.scripts] snippet after the generated part of its scriptlet, with the same $1.
## Filled by format-rpm's scriptlets.rs: #CODE# is the manifest author's own shell.
# --- from the manifest ---
#CODE#
