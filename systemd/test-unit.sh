#!/bin/sh
# test-unit.sh - systemd-analyze verify and security on qsched.service, as
# built: ExecStart points at the built binary, since verify wants it to
# exist.  Any warning fails the test, and so does an exposure score above
# 2.0 ("OK").  Exit 77 (skipped) without systemd-analyze.
set -u

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "test-unit.sh: no systemd-analyze: skipped"; exit 77; }
unit=${QSCHED_BUILDDIR:?}/systemd/qsched.service
bin=${QSCHED_BIN:?}
[ -f "$unit" ] || { echo "test-unit.sh: $unit was not built"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/qsched-unit.XXXXXX") || exit 99
trap 'rm -rf "$dir"' EXIT
fail=0

grep -q '^ExecStart=.*/qsched -c .*/qsched/jobs.conf daemon$' "$unit" || {
	echo "FAIL: ExecStart is not the configured qsched daemon:"
	grep '^ExecStart=' "$unit"; fail=1; }
grep -q '@[a-z]*@' "$unit" && {
	echo "FAIL: unsubstituted @variables@:"; grep '@[a-z]*@' "$unit"; fail=1; }
for key in Type=notify ExecReload= NoNewPrivileges=yes ProtectSystem=strict \
    ProtectHome=yes PrivateTmp=yes \
    'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' User=qsched; do
	grep -q "^$key" "$unit" || { echo "FAIL: no $key"; fail=1; }
done

sed "s|^ExecStart=[^ ]*/qsched |ExecStart=$bin |" "$unit" > "$dir/qsched.service"
out=$(systemd-analyze verify --man=no "$dir/qsched.service" 2>&1)
status=$?
if [ $status -ne 0 ] || [ -n "$out" ]; then
	echo "FAIL: systemd-analyze verify (exit $status):"
	echo "$out"
	fail=1
else
	echo "ok: systemd-analyze verify is silent"
fi

# --offline and --threshold came with systemd 250.
if systemd-analyze security --help 2>&1 | grep -q -- --threshold; then
	out=$(systemd-analyze security --offline=yes --threshold=20 \
	    "$dir/qsched.service" 2>&1)
	status=$?
	echo "$out" | tail -n 1
	if [ $status -ne 0 ]; then
		echo "FAIL: exposure above 2.0 (exit $status):"
		echo "$out" | grep '✗'
		fail=1
	fi
else
	echo "systemd-analyze security --offline: not available, not scored"
fi
exit $fail
