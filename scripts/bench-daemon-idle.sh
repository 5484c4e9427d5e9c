#!/bin/sh
# bench-daemon-idle.sh - how often an idle qsched daemon wakes, and its RSS.
#
#   scripts/bench-daemon-idle.sh [-s SECONDS] [-n WINDOWS] [-m]
#
# Starts a throwaway PostgreSQL cluster (scripts/bench-lib.sh, durable),
# and one daemon whose only job fires about an hour later.  Once it has
# settled (start-up, the first history retention pass), it is watched for
# WINDOWS windows of SECONDS (default 3 x 60 s).  With -m the daemon also
# serves GET /metrics (metrics_listen on a loopback port), scraped once
# before the windows (so its thread and connection are up) and never
# during them.
#   wakeups  voluntary context switches summed over the daemon's threads
#            (/proc/PID/task/*/status): each time a thread blocks again
#            after waking; nothing attaches to it.
#   rss      VmRSS at the end of the window.
# then for one more window under `strace -f -c`, which counts the sleeping
# syscalls that returned (attaching and detaching strace restart the call
# the daemon sleeps in, so expect up to 2 there even with no wakeup).
# Prints one line per window and the medians.  Needs a build
# (QSCHED_BUILDDIR, default _build/default, built if needed).
set -eu

. "$(dirname "$0")/bench-lib.sh"
secs=60
windows=3
metrics=

usage() { echo "usage: scripts/bench-daemon-idle.sh [-s SECONDS] [-n WINDOWS] [-m]" >&2; exit 2; }
while getopts s:n:m opt; do
	case $opt in
	s) secs=$OPTARG ;;
	n) windows=$OPTARG ;;
	m) metrics=$((20000 + $$ % 20000)) ;;
	*) usage ;;
	esac
done
bench_setup
dir=$bench
daemon=
bench_cleanup_extra() {
	[ -z "$daemon" ] || { kill -TERM "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; }
}

mline=
mstate=off
if [ -n "$metrics" ]; then
	mline="metrics_listen = \"$metrics\""
	mstate="on (port $metrics, scraped once before the windows)"
fi
# Fires once a day, about 61 minutes from now (UTC).
at=$(date -u -d '+61 min' '+%M %H')
cat >"$dir/jobs.conf" <<EOF
database   = "host=$PGHOST port=$PGPORT dbname=bench user=postgres"
plugin_dir = "$build/plugins/.libs"
flags_file = "$dir/flags.ini"
$mline
job "later" {
    plugin   = "sql"
    schedule = "$at * * *"
    options { statement = "select 1" }
}
EOF
: >"$dir/flags.ini"

"$build/qsched" -c "$dir/jobs.conf" daemon 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 1 100); do
	grep -q "daemon started" "$dir/daemon.log" && break
	sleep 0.1
done
grep -q "daemon started" "$dir/daemon.log" || { cat "$dir/daemon.log" >&2; exit 1; }
if [ -n "$metrics" ]; then
	curl -sf -o /dev/null "http://127.0.0.1:$metrics/metrics" ||
	    { echo "bench-daemon-idle.sh: GET /metrics failed" >&2; exit 1; }
fi
sleep 2

field() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# Summed over the threads: with -m, libmicrohttpd's thread is one.
wakeups() { cat /proc/"$1"/task/*/status | awk '$1 == "voluntary_ctxt_switches:" { s += $2 } END { print s }'; }

echo "machine: $(nproc) CPU $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(uname -sr)"
echo "daemon: $build/qsched, pid $daemon, $(ls /proc/"$daemon"/task | wc -l) threads, metrics $mstate, next fire: $(grep 'next fire' "$dir/daemon.log" | sed 's/.*next fire //')"
echo "window  seconds  wakeups  vm_rss_kib"
: >"$dir/wakeups"
: >"$dir/rss"
for w in $(seq 1 "$windows"); do
	v0=$(wakeups "$daemon")
	sleep "$secs"
	v1=$(wakeups "$daemon")
	rss=$(field "$daemon" VmRSS)
	echo "$((v1 - v0))" >>"$dir/wakeups"
	echo "$rss" >>"$dir/rss"
	printf '%6s  %7s  %7s  %10s\n' "$w" "$secs" "$((v1 - v0))" "$rss"
done

median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
echo "median: wakeups $(median "$dir/wakeups") per ${secs}s, VmRSS $(median "$dir/rss") KiB"
awk '/^(RssAnon|RssFile|RssShmem|VmHWM):/ { printf "%s %s %s  ", $1, $2, $3 } END { print "" }' "/proc/$daemon/status"
# Pss shares the library pages with the other processes mapping them.
[ -r "/proc/$daemon/smaps_rollup" ] &&
    awk '/^Pss:/ { print "Pss: " $2 " kB (shared library pages divided among their users)" }' "/proc/$daemon/smaps_rollup"

if command -v strace >/dev/null 2>&1; then
	timeout -s INT "$secs" strace -f -c -o "$dir/strace" -p "$daemon" \
	    -e trace=ppoll,poll,epoll_wait,epoll_pwait,select,pselect6,nanosleep,clock_nanosleep \
	    >/dev/null 2>&1 || true
	echo "strace -f -c over ${secs}s (sleeping syscalls that returned):"
	sed -n '/^% time/,$p' "$dir/strace" | grep -v "^-" || echo "  (no call returned)"
fi
