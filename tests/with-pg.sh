#!/bin/sh
# with-pg.sh PROGRAM [ARGS...] - the LOG_COMPILER of every test suite.
#
# A program whose name starts with "pg_" runs against its own throwaway
# PostgreSQL cluster (scripts/pg-cluster.sh): PGHOST, PGPORT, PGUSER,
# PGDATABASE, QSCHED_TEST_PGDATA and QSCHED_TEST_PGCTL are exported to it,
# and the cluster is stopped and removed afterwards whatever happens to the
# program: failure, crash, or an interrupted run.  The exit status is the
# program's (128+N when killed by signal N; 99, a hard error for automake,
# when the cluster cannot be started).  Any other program is run as it is.
#
# TMPDIR points into the cluster directory for the program's own files.
# QSCHED_TEST_KEEP=1 keeps the cluster directory (server.log, the tests'
# directories) for a look.
set -u

[ $# -ge 1 ] || { echo "usage: with-pg.sh PROGRAM [ARGS...]" >&2; exit 99; }
case ${1##*/} in
pg_*)	;;
*)	exec "$@" ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
cluster="$here/../scripts/pg-cluster.sh"
dir=
child=
group=

cleanup() {
	if [ -n "$child" ]; then
		kill -TERM "-$child" 2>/dev/null || kill -TERM "$child" 2>/dev/null
		wait "$child" 2>/dev/null
		child=
	fi
	# Whatever the program left running in its process group goes too.
	if [ -n "$group" ]; then
		kill -KILL "-$group" 2>/dev/null
		group=
	fi
	if [ -n "$dir" ]; then
		sh "$cluster" stop "$dir" >/dev/null 2>&1
		if [ "${QSCHED_TEST_KEEP:-0}" = 1 ]; then
			echo "with-pg.sh: kept $dir" >&2
		else
			rm -rf "$dir"
		fi
		dir=
	fi
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM
trap 'cleanup; trap - EXIT; exit 129' HUP

# Short: the socket path DIR/.s.PGSQL.NNNNN must fit in 107 bytes.
dir=$(mktemp -d "${TMPDIR:-/tmp}/qsched-pg.XXXXXX") ||
    { echo "with-pg.sh: cannot create a temporary directory" >&2; exit 99; }
env=$(sh "$cluster" start "$dir") ||
    { echo "with-pg.sh: cannot start PostgreSQL for $1" >&2; exit 99; }
eval "$env"
# Test files go inside the cluster directory, so they go with it even when
# a crashed test could not remove its own.
mkdir -p "$dir/tmp" && TMPDIR="$dir/tmp" && export TMPDIR

# In the background, so a signal to this shell is handled at once rather
# than after the program ends; stdin is passed on explicitly because an
# asynchronous command would otherwise read /dev/null.  setsid makes the
# program a process group of its own (it does not fork here: a background
# command is not a group leader), so cleanup reaches its children too.
exec 3<&0
if command -v setsid >/dev/null 2>&1; then
	setsid "$@" <&3 3<&- &
	group=$!
else
	"$@" <&3 3<&- &
fi
child=$!
wait "$child"
status=$?
child=
exit "$status"
