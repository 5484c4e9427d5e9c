#!/bin/sh
# run.sh - run the libFuzzer targets of tests/fuzz, FUZZ_JOBS at a time,
# each for FUZZ_SECONDS under ASan and UBSan, and print what they did.
#
#   run.sh SRCDIR FUZZDIR TARGET...       (make fuzz calls it)
#
# FUZZDIR is tests/fuzz of the build tree, holding bin/fuzz_TARGET.  Each
# target starts from seeds/TARGET, made afresh from the test corpora and
# the table cases of the unit tests, and keeps what it finds in
# corpus/TARGET, which persists from run to run; a crashing input is
# saved under crashes/ and the run fails.  Targets run in work/TARGET, an
# empty directory, so relative paths in a fuzzed jobs.conf name nothing.
# The summary is a Markdown table: executions, executions per second,
# corpus files and crashes per target.
set -eu

src=$1
dir=$2
shift 2
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
src=$(cd "$src" && pwd)

# seed TARGET NAME: standard input becomes seeds/TARGET/NAME.
seed() {
	cat >"$dir/seeds/$1/$2"
}

# The first string of each "{ "...", ..." table line of a unit test.
table_strings() {
	sed -n 's/^[[:space:]]*{ "\([^"]*\)",.*/\1/p' "$1"
}

make_seeds() {
	rm -rf "$dir/seeds"
	for t in cron duration config flags options; do
		mkdir -p "$dir/seeds/$t"
	done
	{
		table_strings "$src/tests/unit/test_cron.c"
		sed -n 's/.*schedule *= *"\([^"]*\)".*/\1/p' \
		    "$src"/tests/data/conf/*/*.conf "$src/jobs.conf"
	} | {
		n=0
		while IFS= read -r s; do
			n=$((n + 1))
			printf '%s' "$s" | seed cron "t$n"
		done
	}
	{
		table_strings "$src/tests/unit/test_duration.c"
		sed -n 's/.*_\{0,1\}\(timeout\|delay\|retention\|period\|pause\) *= *"\([^"]*\)".*/\2/p' \
		    "$src"/tests/data/conf/*/*.conf "$src/jobs.conf"
	} | {
		n=0
		while IFS= read -r s; do
			n=$((n + 1))
			printf '%s' "$s" | seed duration "t$n"
		done
	}
	for f in "$src"/tests/data/conf/*/*.conf "$src/jobs.conf"; do
		sed 's|@PLUGINDIR@|plugins|g' "$f" |
		    seed config "$(basename "$(dirname "$f")")-$(basename "$f")"
	done
	for f in "$src"/tests/data/flags/*/*.ini "$src/flags.ini"; do
		seed flags "$(basename "$(dirname "$f")")-$(basename "$f")" <"$f"
	done
	# The first byte picks the option in fuzz_options.c's table.
	sed -n 's/^[[:space:]]*{ "\([a-z_]*\)",[[:space:]]*"\([^"]*\)".*/\1 \2/p' \
	    "$src/tests/unit/test_options.c" | {
		n=0
		while read -r name value; do
			i=0
			for o in queue label max_size offset dry cooling_period \
			    pause floor odd; do
				[ "$o" = "$name" ] && break
				i=$((i + 1))
			done
			n=$((n + 1))
			# shellcheck disable=SC2059 # the byte as an octal escape
			{ printf "\\$(printf '%03o' "$i")"; printf '%s' "$value"; } |
			    seed options "t$n"
		done
	}
}

# run TARGET: one libFuzzer run, its output in TARGET.log.
run() {
	mkdir -p "$dir/corpus/$1" "$dir/crashes" "$dir/work/$1"
	rm -f "$dir/crashes/$1-"*
	(cd "$dir/work/$1" && exec "$dir/bin/fuzz_$1" \
	    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
	    -artifact_prefix="$dir/crashes/$1-" \
	    "$dir/corpus/$1" "$dir/seeds/$1") >"$dir/$1.log" 2>&1
}

fuzz_stat() {
	sed -n "s/^stat::$2: *//p" "$dir/$1.log" | tail -n 1
}

make_seeds
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export ASAN_OPTIONS UBSAN_OPTIONS

echo "fuzz: $* for ${seconds}s each, $jobs at a time"
set -- "$@"
pending="$*"
while [ -n "$pending" ]; do
	batch=
	n=0
	for t in $pending; do
		[ "$n" -lt "$jobs" ] || break
		batch="$batch $t"
		n=$((n + 1))
	done
	rest=
	n=0
	for t in $pending; do
		n=$((n + 1))
		[ "$n" -gt "$jobs" ] && rest="$rest $t"
	done
	pending=$rest
	for t in $batch; do
		(run "$t"; echo $? >"$dir/$t.rc") &
	done
	wait
done

failed=0
printf '\n| target | seconds | executions | exec/s | corpus files | crashes |\n'
printf '|---|---|---|---|---|---|\n'
for t in "$@"; do
	rc=$(cat "$dir/$t.rc" 2>/dev/null || echo 1)
	crashes=$(find "$dir/crashes" -name "$t-*" -type f | wc -l)
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes="1 (no artifact)"
	fi
	printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" \
	    "$(fuzz_stat "$t" number_of_executed_units)" \
	    "$(fuzz_stat "$t" average_exec_per_sec)" \
	    "$(find "$dir/corpus/$t" -type f | wc -l)" "$crashes"
	[ "$rc" -eq 0 ] || failed=1
done
if [ "$failed" -ne 0 ]; then
	for t in "$@"; do
		[ "$(cat "$dir/$t.rc" 2>/dev/null || echo 1)" -eq 0 ] && continue
		printf '\n---- %s: %s (last 80 lines) ----\n' "$t" "$dir/$t.log"
		tail -n 80 "$dir/$t.log"
		find "$dir/crashes" -name "$t-*" -type f | while read -r f; do
			echo "crashing input: $f"
		done
	done
	echo "fuzz: FAILED" >&2
	exit 1
fi
