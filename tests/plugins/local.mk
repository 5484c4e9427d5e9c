# tests/plugins/local.mk - test plugins: real libtool modules built like
# the shipped ones (one exported symbol, hidden visibility), as .so files in
# tests/plugins/.libs, which the suites find through QSCHED_TEST_PLUGINDIR.
# -rpath makes libtool build a shared module out of a check library.
TEST_PLUGIN_CFLAGS = $(PLUGIN_CC_FLAGS)
TEST_PLUGIN_LDFLAGS = $(PLUGIN_LD_FLAGS) -rpath /nowhere

# Refused by the loader, each for one descriptor field.
check_LTLIBRARIES += tests/plugins/bad_magic.la
tests_plugins_bad_magic_la_SOURCES = tests/plugins/bad_magic.c tests/plugins/refuse.h
tests_plugins_bad_magic_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_bad_magic_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/other_major.la
tests_plugins_other_major_la_SOURCES = tests/plugins/other_major.c tests/plugins/refuse.h
tests_plugins_other_major_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_other_major_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/newer_minor.la
tests_plugins_newer_minor_la_SOURCES = tests/plugins/newer_minor.c tests/plugins/refuse.h
tests_plugins_newer_minor_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_newer_minor_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/short_size.la
tests_plugins_short_size_la_SOURCES = tests/plugins/short_size.c tests/plugins/refuse.h
tests_plugins_short_size_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_short_size_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/misnamed.la
tests_plugins_misnamed_la_SOURCES = tests/plugins/misnamed.c tests/plugins/refuse.h
tests_plugins_misnamed_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_misnamed_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/no_run.la
tests_plugins_no_run_la_SOURCES = tests/plugins/no_run.c tests/plugins/refuse.h
tests_plugins_no_run_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_no_run_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/init_fails.la
tests_plugins_init_fails_la_SOURCES = tests/plugins/init_fails.c tests/plugins/refuse.h
tests_plugins_init_fails_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_init_fails_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/bad_option_name.la
tests_plugins_bad_option_name_la_SOURCES = tests/plugins/bad_option_name.c tests/plugins/refuse.h
tests_plugins_bad_option_name_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_bad_option_name_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/bad_default.la
tests_plugins_bad_default_la_SOURCES = tests/plugins/bad_default.c tests/plugins/refuse.h
tests_plugins_bad_default_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_bad_default_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

# Behaviour plugins for the config, loader and integration suites.

check_LTLIBRARIES += tests/plugins/result.la
tests_plugins_result_la_SOURCES = tests/plugins/result.c
tests_plugins_result_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_result_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/crash.la
tests_plugins_crash_la_SOURCES = tests/plugins/crash.c
tests_plugins_crash_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_crash_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/hang.la
tests_plugins_hang_la_SOURCES = tests/plugins/hang.c
tests_plugins_hang_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_hang_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_hang_la_LIBADD = $(LIBPQ_LIBS)

check_LTLIBRARIES += tests/plugins/progress.la
tests_plugins_progress_la_SOURCES = tests/plugins/progress.c
tests_plugins_progress_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_progress_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

check_LTLIBRARIES += tests/plugins/flaky.la
tests_plugins_flaky_la_SOURCES = tests/plugins/flaky.c
tests_plugins_flaky_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_flaky_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)
tests_plugins_flaky_la_LIBADD = $(LIBPQ_LIBS)

check_LTLIBRARIES += tests/plugins/options.la
tests_plugins_options_la_SOURCES = tests/plugins/options.c
tests_plugins_options_la_CFLAGS = $(TEST_PLUGIN_CFLAGS)
tests_plugins_options_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS)

# Each plugin exports qsched_plugin_describe and nothing else.
TESTS += tests/plugin-exports.sh
EXTRA_DIST += tests/plugin-exports.sh
