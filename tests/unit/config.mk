# tests/unit/config.mk - suites for durations, plugin options, flags.ini,
# the plugin loader and jobs.conf.  The data corpora are listed as whole
# directories so a new case needs no edit here.
CONFIG_TEST_UTIL = tests/unit/test_cfgutil.c tests/unit/test_cfgutil.h

check_PROGRAMS += tests/unit_duration
tests_unit_duration_SOURCES = tests/unit/test_duration.c $(CONFIG_TEST_UTIL)
tests_unit_duration_CFLAGS = $(TEST_CFLAGS)
tests_unit_duration_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit_options
tests_unit_options_SOURCES = tests/unit/test_options.c $(CONFIG_TEST_UTIL)
tests_unit_options_CFLAGS = $(TEST_CFLAGS)
tests_unit_options_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit_flags
tests_unit_flags_SOURCES = tests/unit/test_flags.c $(CONFIG_TEST_UTIL)
tests_unit_flags_CFLAGS = $(TEST_CFLAGS)
tests_unit_flags_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit_plugin
tests_unit_plugin_SOURCES = tests/unit/test_plugin.c $(CONFIG_TEST_UTIL)
tests_unit_plugin_CFLAGS = $(TEST_CFLAGS)
tests_unit_plugin_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit_config
tests_unit_config_SOURCES = tests/unit/test_config.c $(CONFIG_TEST_UTIL)
tests_unit_config_CFLAGS = $(TEST_CFLAGS)
tests_unit_config_LDADD = $(UNIT_LIBS)

TESTS += tests/unit_duration tests/unit_options tests/unit_flags \
	tests/unit_plugin tests/unit_config

EXTRA_DIST += tests/data/conf tests/data/flags

# The same corpora through the qsched binary: exit status 2 and FILE:LINE.
check_PROGRAMS += tests/unit_cli_corpus
tests_unit_cli_corpus_SOURCES = tests/unit/test_cli_corpus.c $(CONFIG_TEST_UTIL)
tests_unit_cli_corpus_CFLAGS = $(TEST_CFLAGS)
tests_unit_cli_corpus_LDADD = $(UNIT_LIBS) tests/lib/libth.la $(LIBPQ_LIBS)
TESTS += tests/unit_cli_corpus
