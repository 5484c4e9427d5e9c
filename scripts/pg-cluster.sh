#!/bin/sh
# pg-cluster.sh - a throwaway PostgreSQL cluster in one directory, for the
# test harness (tests/with-pg.sh) and the demo (scripts/demo.sh).
#
#   pg-cluster.sh start [--durable] DIR   create and start; print the env
#   pg-cluster.sh env DIR                 print the env again
#   pg-cluster.sh stop DIR                stop (immediate); DIR is kept
#   pg-cluster.sh standby start|stop DIR  a streaming standby of DIR's
#                                         cluster in DIR/standby; start
#                                         prints its port
#
# The server listens on a Unix socket in DIR only (no TCP), on a random
# port number, and logs to DIR/server.log.  Without --durable, fsync and
# friends are off: a test cluster is thrown away, so durability only costs
# time.  The printed lines are for eval:
#
#   eval "$(sh scripts/pg-cluster.sh start /tmp/x)"
#
# and set PGHOST PGPORT PGUSER PGDATABASE, PG_BINDIR, QSCHED_TEST_PGDATA (the
# data directory) and QSCHED_TEST_PGCTL (a script running pg_ctl on this
# cluster as the right user: "$QSCHED_TEST_PGCTL restart -m fast").
#
# PostgreSQL refuses to run as root.  Run as root, the server runs as the
# unprivileged user "nobody" (or, when nobody cannot use DIR, a system user
# "qsched-test", created on first use); DIR is given to that user.  The
# clients (qsched, the tests) keep running as the caller and connect over
# the socket.
set -eu

me=pg-cluster.sh
say() { printf '%s: %s\n' "$me" "$*" >&2; }
die() { say "$*"; exit 1; }
usage() { die "usage: $me start [--durable] DIR | stop DIR | env DIR | standby start|stop DIR"; }

# Quote a value for the shell: 'it'\''s'.
shquote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# initdb and pg_ctl: $PG_BINDIR, else pg_config, else the newest Debian
# server directory.
find_bindir() {
	if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/initdb" ]; then
		printf '%s\n' "$PG_BINDIR"; return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		b=$(pg_config --bindir 2>/dev/null || true)
		if [ -n "$b" ] && [ -x "$b/initdb" ]; then
			printf '%s\n' "$b"; return 0
		fi
	fi
	b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -n "$b" ] && [ -x "$b/initdb" ]; then
		printf '%s\n' "$b"; return 0
	fi
	die "no PostgreSQL server binaries (initdb): set PG_BINDIR or install postgresql-15 (scripts/deps.sh)"
}

# Can USER create files in DIR (and reach it through its parents)?
user_can_use() {
	chown "$1" "$2" 2>/dev/null || return 1
	(cd / && runuser -u "$1" -- test -w "$2" -a -x "$2") 2>/dev/null
}

# The user that runs the server: the caller, or when root an unprivileged one.
pick_user() {
	if [ "$(id -u)" -ne 0 ]; then
		id -un; return 0
	fi
	command -v runuser >/dev/null 2>&1 ||
	    die "running as root needs runuser (util-linux) to start PostgreSQL as another user"
	if id nobody >/dev/null 2>&1 && user_can_use nobody "$1"; then
		echo nobody; return 0
	fi
	if ! id qsched-test >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /usr/sbin/nologin qsched-test >/dev/null 2>&1 ||
		    die "cannot create the system user qsched-test to run PostgreSQL"
	fi
	user_can_use qsched-test "$1" && { echo qsched-test; return 0; }
	die "$1: not usable by an unprivileged user (nobody, qsched-test); is a parent directory private? set TMPDIR to a directory under /tmp"
}

# Run a server binary as the cluster's user, from DIR (the server user may
# not be able to read the caller's working directory).
as_user() {
	if [ "$user" = "$(id -un)" ]; then
		(cd "$dir" && "$@")
	else
		(cd "$dir" && runuser -u "$user" -- "$@")
	fi
}

env_lines() {
	printf 'PGHOST=%s; export PGHOST\n' "$(shquote "$dir")"
	printf 'PGPORT=%s; export PGPORT\n' "$1"
	printf 'PGUSER=postgres; export PGUSER\n'
	printf 'PGDATABASE=postgres; export PGDATABASE\n'
	printf 'PG_BINDIR=%s; export PG_BINDIR\n' "$(shquote "$bindir")"
	printf 'QSCHED_TEST_PGDATA=%s; export QSCHED_TEST_PGDATA\n' \
	    "$(shquote "$dir/data")"
	printf 'QSCHED_TEST_PGCTL=%s; export QSCHED_TEST_PGCTL\n' \
	    "$(shquote "$dir/pg_ctl")"
}

# A random port number; the socket name .s.PGSQL.PORT must be free in DIR.
random_port() {
	while :; do
		p=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000 + 20000 ))
		[ -e "$dir/.s.PGSQL.$p" ] || [ -e "$dir/.s.PGSQL.$p.lock" ] ||
		    { echo "$p"; return 0; }
	done
}

cmd_start() {
	durable=no
	if [ "${1:-}" = --durable ]; then durable=yes; shift; fi
	[ $# -eq 1 ] || usage
	mkdir -p "$1"
	dir=$(cd "$1" && pwd -P)
	[ ! -e "$dir/data" ] || die "$dir/data: already exists (stop the cluster and remove $dir first)"
	# A Unix socket path is at most 107 bytes: DIR/.s.PGSQL.NNNNN.lock
	[ ${#dir} -le 80 ] || die "$dir: too long for a Unix socket directory (max 80 bytes)"
	case $dir in *[\'\\]*) die "$dir: quotes and backslashes are not supported" ;; esac
	bindir=$(find_bindir)
	user=$(pick_user "$dir")

	as_user "$bindir/initdb" -D "$dir/data" -A trust -U postgres --nosync \
	    -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
	    { cat "$dir/initdb.log" >&2; die "initdb failed in $dir/data"; }
	{
		echo "# pg-cluster.sh"
		echo "listen_addresses = ''"
		echo "unix_socket_directories = '$dir'"
		echo "max_connections = 200"
		echo "logging_collector = off"
		echo "log_line_prefix = '%m [%p] %q%a '"
		if [ "$durable" = no ]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >>"$dir/data/postgresql.conf"

	# The wrapper the tests use to stop, start and restart this cluster.
	if [ "$user" = "$(id -un)" ]; then run=; else run="runuser -u $user --"; fi
	cat >"$dir/pg_ctl" <<EOF
#!/bin/sh
# Runs pg_ctl on the cluster in $dir as $user.
cd '$dir' && exec $run '$bindir/pg_ctl' -D '$dir/data' -l '$dir/server.log' "\$@"
EOF
	chmod 755 "$dir/pg_ctl"

	# With the socket in a private directory a name clash is unlikely, but
	# a port that turns out taken gets another try.
	tries=0
	while :; do
		port=$(random_port)
		# The last setting in the file wins; appending keeps its owner.
		echo "port = $port" >>"$dir/data/postgresql.conf"
		if "$dir/pg_ctl" start -w -t 60 -s >/dev/null 2>&1; then
			break
		fi
		tries=$((tries + 1))
		if [ $tries -ge 5 ] || ! grep -q -e 'could not bind' \
		    -e 'lock file .* already exists' -e 'could not create lock file' \
		    "$dir/server.log" 2>/dev/null; then
			tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
			"$dir/pg_ctl" stop -m immediate -s >/dev/null 2>&1 || true
			die "PostgreSQL did not start in $dir (log: $dir/server.log)"
		fi
	done
	env_lines "$port" >"$dir/env"
	cat "$dir/env"
}

cmd_stop() {
	[ $# -eq 1 ] || usage
	[ -d "$1" ] || return 0
	dir=$(cd "$1" && pwd -P)
	[ ! -f "$dir/standby/postmaster.pid" ] || cmd_standby stop "$dir"
	[ -f "$dir/data/postmaster.pid" ] || return 0
	[ -x "$dir/pg_ctl" ] || die "$dir/pg_ctl: missing"
	# pg_ctl says "no server running" for a stale pid file; that is fine.
	"$dir/pg_ctl" stop -m immediate -w -t 30 -s >/dev/null 2>&1 || true
	# Never leave a postmaster behind; but a stale pid file may name a
	# process that is no longer ours, so check its data directory first.
	if [ -f "$dir/data/postmaster.pid" ]; then
		pid=$(head -n 1 "$dir/data/postmaster.pid")
		case $pid in
		''|*[!0-9]*) ;;
		*)	if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
			    grep -qF -- "$dir/data"; then
				kill -9 "$pid" 2>/dev/null || true
			fi ;;
		esac
	fi
}

# A physical standby streaming from the running cluster (pg_basebackup
# -R), in DIR/standby, on the same socket directory and a port of its
# own, run by the cluster's user; for tests of what qsched does when a
# replica lags.  "stop" stops it (immediate) and removes it.
cmd_standby() {
	[ $# -eq 2 ] || usage
	[ -f "$2/env" ] || die "$2: no cluster started here"
	dir=$(cd "$2" && pwd -P)
	user=$(stat -c %U "$dir/data")
	bindir=$(find_bindir)
	case $1 in
	start)
		[ ! -e "$dir/standby" ] || die "$dir/standby: already exists"
		port=$(sed -n "s/^PGPORT=\(.*\); export PGPORT$/\1/p" "$dir/env")
		as_user "$bindir/pg_basebackup" -D "$dir/standby" -h "$dir" \
		    -p "$port" -U postgres -R -X stream -c fast --no-sync \
		    >"$dir/basebackup.log" 2>&1 ||
		    { cat "$dir/basebackup.log" >&2; die "pg_basebackup failed"; }
		sport=$(random_port)
		# Replies every second (default 10 s), so the primary's lag
		# columns move at test speed.
		{
			echo "port = $sport"
			echo "wal_receiver_status_interval = 1s"
		} >>"$dir/standby/postgresql.conf"
		# The log is written by the server's user: not a file this
		# (maybe root) shell creates.
		as_user "$bindir/pg_ctl" -D "$dir/standby" \
		    -l "$dir/standby/server.log" start -w -t 60 -s \
		    >/dev/null 2>&1 || { tail -n 20 "$dir/standby/server.log" >&2
			die "the standby did not start"; }
		echo "$sport" ;;
	stop)
		[ -d "$dir/standby" ] || return 0
		as_user "$bindir/pg_ctl" -D "$dir/standby" stop -m immediate \
		    -w -t 30 -s >/dev/null 2>&1 || true
		rm -rf "$dir/standby" ;;
	*)	usage ;;
	esac
}

cmd_env() {
	[ $# -eq 1 ] || usage
	[ -f "$1/env" ] || die "$1: no cluster started here"
	cat "$1/env"
}

[ $# -ge 1 ] || usage
action=$1; shift
case $action in
start)	cmd_start "$@" ;;
stop)	cmd_stop "$@" ;;
env)	cmd_env "$@" ;;
standby) cmd_standby "$@" ;;
*)	usage ;;
esac
