#!/bin/sh
# install-check.sh BUILDDIR - `make install DESTDIR=...` puts every piece
# where an operator and a plugin author expect it, and a third-party plugin
# builds against the installed header through pkg-config.
set -eu
build=$(cd "$1" && pwd)
dest=$(mktemp -d "${TMPDIR:-/tmp}/qsched-install.XXXXXX")
trap 'rm -rf "$dest"' EXIT

if ! make -C "$build" -s install DESTDIR="$dest" >"$dest.log" 2>&1; then
	cat "$dest.log" >&2
	rm -f "$dest.log"
	exit 1
fi
rm -f "$dest.log"
prefix=$(sed -n 's/^prefix=//p' "$build/qsched-plugin.pc")
root="$dest$prefix"
sysconf=$(sed -n 's/^sysconfdir = //p' "$build/Makefile")
sysconf=$(echo "$sysconf" | sed "s|\${prefix}|$prefix|")

missing=0
expect() {
	for f in "$@"; do
		if [ ! -e "$f" ]; then
			echo "install-check: missing ${f#"$dest"}" >&2
			missing=$((missing + 1))
		fi
	done
}
expect "$root/bin/qsched" \
    "$root/include/qsched-plugin.h" \
    "$root/lib/pkgconfig/qsched-plugin.pc" \
    "$root/lib/qsched/plugins/sql.so" \
    "$root/lib/qsched/plugins/schema_migrate.so" \
    "$root/share/man/man8/qsched.8" \
    "$root/share/man/man5/jobs.conf.5" \
    "$root/share/man/man3/qsched-plugin.3" \
    "$root/share/man/man7/qsched-plugins.7" \
    "$root/share/qsched/sql/core/0001_runs.sql" \
    "$root/share/qsched/sql/migrations/0001_separated_queue_tables.sql" \
    "$root/share/qsched/sql/fixtures/legacy_schema.sql" \
    "$root/share/qsched/scripts/gen-legacy-data.sh" \
    "$dest$sysconf/qsched/jobs.conf" \
    "$dest$sysconf/qsched/flags.ini"
for so in "$build"/plugins/.libs/*.so; do
	expect "$root/lib/qsched/plugins/$(basename "$so")"
done
[ "$missing" -eq 0 ] || exit 1

# A plugin from outside the tree, built the way qsched-plugin(3) says: the
# page's own EXAMPLES plugin, taken from the installed page (roff's \e is a
# backslash), so the documented example is the one that must build.
sed -n '/^\.\\" example-begin/,/^\.\\" example-end/p' \
    "$root/share/man/man3/qsched-plugin.3" |
    sed -e '/^\.\\"/d' -e '/^\.EX$/d' -e '/^\.EE$/d' -e 's/\\e/\\/g' \
    >"$dest/rowcount.c"
[ -s "$dest/rowcount.c" ] || { echo "install-check: no example in qsched-plugin(3)" >&2; exit 1; }
# The installed .pc, with its prefix moved to where DESTDIR put it (only
# ours: --define-variable would move libpq's headers too).
sed "s|^prefix=.*|prefix=$root|" "$root/lib/pkgconfig/qsched-plugin.pc" \
    >"$dest/qsched-plugin.pc"
cflags=$(PKG_CONFIG_PATH="$dest" pkg-config --cflags qsched-plugin)
mkdir -p "$dest/plugins"
# shellcheck disable=SC2086
cc -Wall -Wextra -Werror -fPIC -shared $cflags -o "$dest/plugins/rowcount.so" \
    "$dest/rowcount.c"
exports=$(nm -D --defined-only "$dest/plugins/rowcount.so" | awk '$2 ~ /^[TDB]$/ { print $3 }')
if [ "$exports" != "qsched_plugin_describe" ]; then
	echo "install-check: the example plugin exports: $exports" >&2
	exit 1
fi
# The installed qsched loads it: descriptor, options, declared flag.
chmod 755 "$dest/plugins"
if ! "$root/bin/qsched" plugins -d "$dest/plugins" >"$dest/plugins.out" 2>&1 ||
    ! grep -q "rowcount" "$dest/plugins.out"; then
	echo "install-check: the installed qsched does not load the example:" >&2
	cat "$dest/plugins.out" >&2
	exit 1
fi
echo "install-check: ok ($(find "$dest" -type f | wc -l) files installed; an external plugin builds)"
