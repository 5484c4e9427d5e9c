#!/bin/sh
# demo.sh - the README's demo command: qsched against a throwaway database.
#
#   scripts/demo.sh          build, start PostgreSQL in a temporary
#                            directory, run a job, show its history, clean up
#   scripts/demo.sh --keep   leave the cluster running and say how to use it
#
# Each step is a function, run in order at the bottom; later steps of the
# migration story slot in between.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)
build="$top/_build/default"
qsched="$build/qsched"
keep=no
demo=
current=

for arg in "$@"; do
	case $arg in
	--keep) keep=yes ;;
	*) echo "usage: scripts/demo.sh [--keep]" >&2; exit 2 ;;
	esac
done

step() { current=$*; printf '\n==> %s\n' "$*"; }

# Show a command, then run it.
show() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
	status=$?
	if [ "$status" -ne 0 ] && [ -n "$current" ]; then
		echo "demo.sh: step \"$current\" failed (exit status $status)" >&2
	fi
	[ -n "$demo" ] || return 0
	if [ "$keep" = yes ]; then
		echo "the cluster in $demo keeps running; stop it with:"
		echo "  sh $top/scripts/pg-cluster.sh stop $demo && rm -rf $demo"
		return 0
	fi
	sh "$top/scripts/pg-cluster.sh" stop "$demo" >/dev/null 2>&1 || true
	rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

step_deps() {
	step "dependencies"
	sh "$top/scripts/deps.sh"
}

# Reuse the build scripts/test.sh made, if any.
step_build() {
	step "build (_build/default)"
	[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
	if [ ! -f "$build/Makefile" ]; then
		mkdir -p "$build"
		(cd "$build" && "$top/configure" -q)
	fi
	make -C "$build" -s -j"$(nproc 2>/dev/null || echo 2)"
}

# A durable cluster (fsync on, as in production) with a "dialler" database.
step_cluster() {
	step "PostgreSQL in a temporary directory"
	demo=$(mktemp -d "${TMPDIR:-/tmp}/qsched-demo.XXXXXX")
	eval "$(sh "$top/scripts/pg-cluster.sh" start --durable "$demo")"
	echo "server: socket in $PGHOST, port $PGPORT, log $demo/server.log"
	show "$PG_BINDIR/psql" -X -q -c "CREATE DATABASE dialler"
	PGDATABASE=dialler; export PGDATABASE
}

step_config() {
	step "configuration: $demo/demo.conf"
	conf="$demo/demo.conf"
	cat >"$conf" <<EOF
# qsched demo configuration (see jobs.conf(5))
database   = "host='$PGHOST' port=$PGPORT dbname=dialler user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = "$top/flags.ini"

job "hello" {
	plugin   = "sql"
	schedule = "@manual"
	options {
		statement = "select 1"
	}
}
EOF
	cat "$conf"
}

step_run() {
	step "run a job by hand"
	show "$qsched" -c "$conf" run hello
}

step_history() {
	step "run history"
	show "$qsched" -c "$conf" history
}

step_keep() {
	[ "$keep" = yes ] || return 0
	step "the cluster keeps running"
	cat <<EOF
  use it:   eval "\$(sh $top/scripts/pg-cluster.sh env $demo)"
            $qsched -c $conf history
            psql -d dialler
EOF
}

step_deps
step_build
step_cluster
step_config
step_run
step_history
step_keep
