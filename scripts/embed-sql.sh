#!/bin/sh
# embed-sql.sh FILE... - write a C source holding each SQL file as a string,
# so the qsched binary carries the core schema it creates and upgrades.
# File names must start with their version number: 0001_name.sql.
set -eu
echo '/* Built from the sql/core files by scripts/embed-sql.sh; do not edit. */'
echo '#include "qsched.h"'
echo
echo 'const struct schema_file schema_files[] = {'
for f in "$@"; do
	base=$(basename "$f")
	version=$(printf '%s' "$base" | sed -n 's/^\([0-9][0-9]*\)_.*\.sql$/\1/p')
	if [ -z "$version" ]; then
		echo "embed-sql.sh: $f: name must be NNNN_name.sql" >&2
		exit 1
	fi
	printf '\t{ %d, "%s",\n' "$(expr "$version" + 0)" "$base"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t    "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo '};'
echo 'const size_t schema_nfiles = sizeof schema_files / sizeof schema_files[0];'
