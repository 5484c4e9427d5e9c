#!/bin/sh
# bench-cron.sh - what cron_next() and cron_parse() cost per call, rare
# schedules (29 February on a Sunday) against "*/15 * * * *": medians and
# maxima over 20000 calls from instants spread over the 400-year cycle.
#
#   scripts/bench-cron.sh
#
# Builds scripts/bench-cron.c with the default build's flags (-O2) against
# its core library; no database.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${QSCHED_BUILDDIR:-$top/_build/default}
[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi) >&2
if [ ! -f "$build/Makefile" ]; then
	mkdir -p "$build"
	(cd "$build" && "$top/configure" -q) >&2
fi
make -C "$build" -s -j"$(nproc 2>/dev/null || echo 2)" core/libqsched-core.la >&2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/qsched-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046
${CC:-cc} -O2 -I"$build" -I"$top/include" -I"$top/core" \
    $(pkg-config --cflags libpq) -o "$tmp/bench-cron" "$top/scripts/bench-cron.c" \
    "$build/core/.libs/libqsched-core.a" \
    $(pkg-config --libs libpq libconfuse inih) -ldl
echo "machine: $(nproc) cores, $(uname -sr)"
echo "command: scripts/bench-cron.sh"
"$tmp/bench-cron"
