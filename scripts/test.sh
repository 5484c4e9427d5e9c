#!/bin/sh
# test.sh - the README's test command: build qsched and run every test.
#
#   scripts/test.sh            deps, default build + make check, sanitizer
#                              build + make check, make fuzz, make distcheck
#   scripts/test.sh --quick    deps, default build + make check only
#
# Builds go to _build/default and _build/sanitize (out of tree).  JOBS sets
# make's parallelism (default: the number of processors, at least 2).  On a
# failure the failing tests' logs are printed and the exit status is 1.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)

quick=no
for arg in "$@"; do
	case $arg in
	--quick) quick=yes ;;
	*) echo "usage: scripts/test.sh [--quick]" >&2; exit 2 ;;
	esac
done

JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
[ "$JOBS" -ge 2 ] 2>/dev/null || JOBS=2

step() { printf '\n==> %s\n' "$*"; }

# The .log of every test whose .trs says it did not pass, under $1.
show_failures() {
	find "$1" -name '*.trs' | sort | while read -r trs; do
		grep -q -E '^:test-result: (FAIL|ERROR|XPASS)' "$trs" || continue
		log=${trs%.trs}.log
		printf '\n---- %s ----\n' "${log#"$top"/}"
		if [ "$(wc -l <"$log")" -gt 400 ]; then
			echo "(last 400 lines)"
			tail -n 400 "$log"
		else
			cat "$log"
		fi
	done
}

# A sanitizer report in any test log fails the run, even where the test
# itself passed: Criterion does not see a leak found as its worker exits.
sanitizer_reports=0
show_sanitizer_reports() {
	for trs in $(find "$1" -name '*.trs' | sort); do
		log=${trs%.trs}.log
		if grep -q -E 'ERROR: (Address|Leak)Sanitizer|SUMMARY: UndefinedBehaviorSanitizer|: runtime error: ' "$log"; then
			printf '\n---- sanitizer report in %s ----\n' "${log#"$top"/}"
			cat "$log"
			sanitizer_reports=$((sanitizer_reports + 1))
		fi
	done
	[ "$sanitizer_reports" -gt 0 ]
}

# "NAME: P passed, F failed, S skipped" for the tests under $2: Criterion
# suites count their tests ("Synthesis" line), other programs count one.
count_tests() {
	find "$2" -path '*/qsched-[0-9]*' -prune -o -name '*.trs' -print |
	    sort | while read -r trs; do
		log=${trs%.trs}.log
		syn=$(grep -E '^\[====\] Synthesis: ' "$log" 2>/dev/null | tail -n 1)
		if [ -n "$syn" ]; then
			echo "$syn" | sed -E 's/.*Tested: ([0-9]+) \| Passing: ([0-9]+) \| Failing: ([0-9]+) \| Crashing: ([0-9]+).*/\2 \3 \4 0/'
		else
			case $(sed -n 's/^:test-result: //p' "$trs" | head -n 1) in
			PASS|XFAIL) echo "1 0 0 0" ;;
			SKIP) echo "0 0 0 1" ;;
			*) echo "0 1 0 0" ;;
			esac
		fi
	done | awk -v name="$1" '
		{ p += $1; f += $2 + $3; s += $4 }
		END { printf "%s: %d passed, %d failed, %d skipped\n", name, p, f, s }'
}

# build NAME [CONFIGURE ARGS...]: configure, make, make check in _build/NAME.
ran=
build() {
	name=$1; shift
	ran="$ran $name"
	dir="$top/_build/$name"
	step "$name build: configure $*"
	mkdir -p "$dir"
	(cd "$dir" && "$top/configure" -q "$@") || return 1
	step "$name build: make -j$JOBS"
	make -C "$dir" -s -j"$JOBS" || return 1
	step "$name build: make check"
	if ! make -C "$dir" -j"$JOBS" check; then
		show_failures "$dir"
		return 1
	fi
}

finish() {
	status=$1
	step "summary"
	total=
	for name in $ran; do
		line=$(count_tests "$name" "_build/$name")
		echo "$line"
		total="$total$line
"
	done
	if [ "$sanitizer_reports" -gt 0 ]; then
		echo "sanitizer reports in $sanitizer_reports test logs (counted as failed)"
		total="${total}sanitize: 0 passed, $sanitizer_reports failed
"
	fi
	printf '%s' "$total" | awk -F'[:,] *' '
		{ for (i = 2; i <= NF; i++) { split($i, w, " "); n[w[2]] += w[1] } }
		END { printf "tests: %d passed, %d failed, %d skipped\n",
		    n["passed"], n["failed"], n["skipped"] }'
	if [ "$status" -ne 0 ]; then
		echo "test.sh: FAILED" >&2
	fi
	exit "$status"
}

step "dependencies"
sh scripts/deps.sh

step "autoreconf -fi"
autoreconf -fi

# Stale results from an earlier run must not count in the summary.
find _build -name '*.trs' -exec rm -f {} + 2>/dev/null || true

build default --enable-werror || finish 1

step "make install DESTDIR=...: what is installed, and an external plugin"
sh scripts/install-check.sh _build/default || finish 1

if [ "$quick" = yes ]; then
	finish 0
fi

# Loud sanitizers: stop at the first error, with a stack, and find leaks.
ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:print_summary=1
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:print_summary=1
export ASAN_OPTIONS UBSAN_OPTIONS
build sanitize --enable-werror --enable-sanitizers || finish 1
if show_sanitizer_reports "_build/sanitize"; then
	finish 1
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# The libFuzzer targets (tests/fuzz), built with clang under ASan/UBSan:
# each for 60 s, two at a time; a crash, leak or hang fails the run.
step "make fuzz: each target for 60 s, two at a time"
if ! make -C _build/default -s -j"$JOBS" fuzz FUZZ_SECONDS=60 FUZZ_JOBS=2; then
	finish 1
fi

step "make distcheck"
if ! make -C _build/default -j"$JOBS" distcheck; then
	show_failures "_build/default"
	finish 1
fi

finish 0
