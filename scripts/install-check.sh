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
    "$root/share/qsched/prisma/schema.prisma" \
    "$root/share/qsched/prisma/migrations/migration_lock.toml" \
    "$root/share/qsched/prisma/migrations/00000000000001_separated_queue_tables/migration.sql" \
    "$dest$sysconf/qsched/jobs.conf" \
    "$dest$sysconf/qsched/flags.ini"
for so in "$build"/plugins/.libs/*.so; do
	expect "$root/lib/qsched/plugins/$(basename "$so")"
done
[ "$missing" -eq 0 ] || exit 1

# A plugin from outside the tree, built the way qsched-plugin(3) says.
cat >"$dest/myjob.c" <<'C'
#include <qsched-plugin.h>

static enum qsched_result
myjob_run(const struct qsched_host *host, struct qsched_run *run)
{
	host->message(run, "hello from %s", host->job(run));
	return (QSCHED_OK);
}

static const struct qsched_plugin plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "myjob", .version = "1", .summary = "example",
	.run = myjob_run,
};

/* Not static, yet hidden by the .pc's -fvisibility=hidden. */
int	 myjob_helper(void);
int
myjob_helper(void)
{
	return (1);
}

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (myjob_helper() ? &plugin : 0);
}
C
# The installed .pc, with its prefix moved to where DESTDIR put it (only
# ours: --define-variable would move libpq's headers too).
sed "s|^prefix=.*|prefix=$root|" "$root/lib/pkgconfig/qsched-plugin.pc" \
    >"$dest/qsched-plugin.pc"
cflags=$(PKG_CONFIG_PATH="$dest" pkg-config --cflags qsched-plugin)
# shellcheck disable=SC2086
cc -Wall -Wextra -Werror -fPIC -shared $cflags -o "$dest/myjob.so" \
    "$dest/myjob.c"
exports=$(nm -D --defined-only "$dest/myjob.so" | awk '$2 ~ /^[TDB]$/ { print $3 }')
if [ "$exports" != "qsched_plugin_describe" ]; then
	echo "install-check: the example plugin exports: $exports" >&2
	exit 1
fi
echo "install-check: ok ($(find "$dest" -type f | wc -l) files installed; an external plugin builds)"
