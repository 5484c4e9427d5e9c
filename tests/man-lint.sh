#!/bin/sh
# man-lint.sh - every man page is lint-clean for mandoc (warnings included).
set -u
srcdir=${QSCHED_SRCDIR:-$(dirname "$0")/..}
if ! command -v mandoc >/dev/null 2>&1; then
	echo "mandoc not installed: skipped"
	exit 77
fi
status=0
for page in "$srcdir"/man/*.[1-9]; do
	if ! out=$(mandoc -Tlint -W warning "$page" 2>&1) || [ -n "$out" ]; then
		echo "$out"
		status=1
	else
		echo "ok: $page"
	fi
done
exit $status
