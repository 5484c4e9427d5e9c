#!/bin/sh
# deps.sh - install the Debian packages qsched needs to build, test and run
# its demo; only those missing.  Uses sudo when not run as root.
#
#   scripts/deps.sh            install what is missing
#   scripts/deps.sh --bench    also what the benchmark drivers use
#   scripts/deps.sh --list     print the package list
#
# The sanitizer build uses GCC's own ASan/UBSan runtimes (libasan8,
# libubsan1, pulled in by build-essential); clang and its runtimes are for
# the libFuzzer targets (make fuzz) only.
set -eu

# The one list.  What each is for:
#   build-essential autoconf automake libtool pkg-config   the build
#   libpq-dev libconfuse-dev libinih-dev                   qsched's libraries
#   libmicrohttpd-dev                                      the daemon's /metrics
#   prometheus                                             promtool and prometheus: monitoring/ tests
#   libcriterion-dev                                       the test suites
#   postgresql-15 postgresql-client-15 postgresql-contrib  test and demo server, psql
#   mandoc                                                 man page checks
#   jq                                                     JSON output checks
#   tzdata                                                 IANA zones (per-job timezone)
#   systemd                                                systemd-analyze verify of the unit
#   procps util-linux passwd                               ps/pkill, runuser/setsid, useradd
#   clang libclang-rt-14-dev                               libFuzzer, ASan/UBSan (make fuzz)
#   curl                                                   scraping /metrics in tests
#   libxml2-utils                                          xmllint of the benchmark's HTML page
#   chromium                                               the benchmark's HTML page rendered headless to a PNG
PACKAGES="build-essential autoconf automake libtool pkg-config
libpq-dev libconfuse-dev libinih-dev libcriterion-dev libmicrohttpd-dev
postgresql-15 postgresql-client-15 postgresql-contrib
mandoc jq tzdata systemd procps util-linux passwd prometheus
clang libclang-rt-14-dev curl libxml2-utils chromium"
# Benchmarks only (scripts/bench-*.sh): timing, syscall counts.
BENCH_PACKAGES="hyperfine strace"

# The Prisma tests (tests/pg_prisma.sh) need node and npm; a Node.js from
# elsewhere (nodesource, nvm) will do, so Debian's are added only when
# there is no npm at all.
if ! command -v npm >/dev/null 2>&1; then
	PACKAGES="$PACKAGES nodejs npm"
fi

case ${1:-} in
--bench) PACKAGES="$PACKAGES $BENCH_PACKAGES" ;;
esac

if [ "${1:-}" = --list ]; then
	printf '%s\n' $PACKAGES
	exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install the equivalents of:" >&2
	printf '  %s\n' $PACKAGES >&2
	exit 0
fi

missing=
for p in $PACKAGES; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done
if [ -z "$missing" ]; then
	echo "deps.sh: all packages present"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=
elif command -v sudo >/dev/null 2>&1; then
	sudo=sudo
else
	echo "deps.sh: missing packages:$missing; run as root or install sudo" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -q -y \
    --no-install-recommends $missing
