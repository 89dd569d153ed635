## A [service.scripts] snippet after the generated part of its script. Filled by format-deb's
## scripts.rs: #LABEL# names the manifest key, #CODE# is the manifest author's own shell.
# --- #LABEL# from the manifest (runs for every action; $1 is dpkg's action) ---
#CODE#

