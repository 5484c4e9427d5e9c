# Plugins: libtool modules exporting only qsched_plugin_describe.
PLUGIN_CC_FLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -fvisibility=hidden
PLUGIN_LD_FLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-export-symbols-regex '^qsched_plugin_describe$$'
