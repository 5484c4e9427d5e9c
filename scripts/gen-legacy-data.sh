#!/bin/sh
# gen-legacy-data.sh - load the call-centre app's legacy schema and
# deterministic data into the database psql connects to.
#
#   gen-legacy-data.sh --size N --seed S [--queue-rows M] [--now TIME]
#       [--adopt DUP_USERS] [--fixtures DIR] [psql arguments...]
#
# Loads sql/fixtures/legacy_schema.sql and generate.sql, then runs
# qsched_fixture.generate(N, S[, M[, TIME]]): N users, M call_queue rows
# (default N).  With --adopt it also loads app_separated_tables.sql and
# runs qsched_fixture.generate_separated(S, DUP_USERS[, 10, TIME]): the
# separated tables as the app's own jobs left them, DUP_USERS users per
# queue with duplicate live entries.  TIME ("2025-01-31 12:00:00", UTC)
# fixes the clock the data is generated against; without it the current
# time is used and only timestamps differ between runs.
#
# Everything happens in one transaction: on any error nothing is left
# behind.  The database must not have the app's tables yet.  Any other
# argument goes to psql (-d, -h, -p, -U ...; or PG* variables).
#
# Exit status: 0 done, 1 psql failed, 2 usage error.

set -eu

prog=${0##*/}

usage() {
	echo "usage: $prog --size N --seed S [--queue-rows M] [--now TIME]" \
	    "[--adopt DUP_USERS] [--fixtures DIR] [psql arguments...]" >&2
	exit 2
}

die() {
	echo "$prog: $*" >&2
	exit 2
}

# Integers only: they are written into the SQL below.
need_int() {
	case $2 in
	''|*[!0-9]*) die "$1: \"$2\" is not a non-negative integer" ;;
	esac
}

size='' seed='' rows='' now='' adopt=''
fixtures=${QSCHED_FIXTURE_DIR:-$(dirname "$0")/../sql/fixtures}
psql_args=

quote() {
	# Quote one argument for the eval below.
	printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

while [ $# -gt 0 ]; do
	case $1 in
	--size|--seed|--queue-rows|--now|--adopt|--fixtures)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $1 in
		--size)		size=$2 ;;
		--seed)		seed=$2 ;;
		--queue-rows)	rows=$2 ;;
		--now)		now=$2 ;;
		--adopt)	adopt=$2 ;;
		--fixtures)	fixtures=$2 ;;
		esac
		shift 2
		;;
	--size=*)	size=${1#*=}; shift ;;
	--seed=*)	seed=${1#*=}; shift ;;
	--queue-rows=*)	rows=${1#*=}; shift ;;
	--now=*)	now=${1#*=}; shift ;;
	--adopt=*)	adopt=${1#*=}; shift ;;
	--fixtures=*)	fixtures=${1#*=}; shift ;;
	-h|--help)	usage ;;
	*)		psql_args="$psql_args $(quote "$1")"; shift ;;
	esac
done

[ -n "$size" ] || die "--size is required"
[ -n "$seed" ] || die "--seed is required"
need_int --size "$size"
need_int --seed "$seed"
[ "$size" -ge 1 ] || die "--size: must be at least 1"
[ -z "$rows" ] || need_int --queue-rows "$rows"
[ -z "$adopt" ] || need_int --adopt "$adopt"
case $now in
*\'*|*\\*) die "--now: \"$now\" is not a time" ;;
esac

for f in legacy_schema.sql generate.sql app_separated_tables.sql; do
	[ -r "$fixtures/$f" ] || die "$fixtures/$f: not found (use --fixtures DIR)"
done

nowarg=NULL
[ -z "$now" ] || nowarg="'$now'::timestamp"
rowsarg=${rows:-NULL}

files="-f $(quote "$fixtures/legacy_schema.sql")"
[ -z "$adopt" ] || files="$files -f $(quote "$fixtures/app_separated_tables.sql")"
files="$files -f $(quote "$fixtures/generate.sql")"

sql="SELECT * FROM qsched_fixture.generate($size, $seed, $rowsarg, $nowarg);"
[ -z "$adopt" ] || sql="$sql SELECT * FROM qsched_fixture.generate_separated($seed, $adopt, 10, $nowarg);"

eval "set -- $psql_args"
if ! eval "psql -X -q -v ON_ERROR_STOP=1 --single-transaction \
    -c 'SET client_min_messages = warning' $files -c \"\$sql\" \"\$@\""
then
	echo "$prog: loading the fixture failed; nothing was changed" >&2
	exit 1
fi
