## postrm purge: the state directories marked for purge. Filled by format-deb's scripts.rs: #DIRS#
## is pkg-core's lifecycle/purge-dir.sh once per directory.
# State directories the manifest marks for removal on purge.
#DIRS#
