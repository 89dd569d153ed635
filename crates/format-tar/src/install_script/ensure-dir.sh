## One state directory (install.sh's ensure_dir creates it only if missing). Filled by format-tar's
## install_script.rs: #DIR#, #USER# and #GROUP# are shell words quoted by
## pkg_core::render::sh_quote, #MODE# four octal digits.
ensure_dir #DIR# #MODE# #USER# #GROUP#
