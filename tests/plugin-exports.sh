#!/bin/sh
# plugin-exports.sh - every plugin exports qsched_plugin_describe and
# nothing else (design section 4): a plugin's other symbols must not leak
# into, or be resolved against, the core or other plugins.
#
# Checks the test plugins and, when built, the shipped plugins.

status=0
checked=0

command -v nm >/dev/null 2>&1 || { echo "nm not found: skipped"; exit 77; }

for dir in "$QSCHED_TEST_PLUGINDIR" "$QSCHED_PLUGIN_BUILDDIR"; do
	[ -n "$dir" ] && [ -d "$dir" ] || continue
	for so in "$dir"/*.so; do
		[ -f "$so" ] || continue
		checked=$((checked + 1))
		syms=$(nm -D --defined-only "$so" | awk '{ print $NF }' | sort)
		if [ "$syms" != "qsched_plugin_describe" ]; then
			echo "FAIL: $so exports:" $syms
			status=1
		else
			echo "ok: $so"
		fi
	done
done

if [ "$checked" -eq 0 ]; then
	echo "FAIL: no plugin found in QSCHED_TEST_PLUGINDIR=$QSCHED_TEST_PLUGINDIR"
	exit 1
fi
exit $status
