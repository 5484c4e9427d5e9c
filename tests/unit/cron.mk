# tests/unit/cron.mk
# Schedules and time zones: cron_parse, cron_next, tz_*.
check_PROGRAMS += tests/unit_cron
TESTS += tests/unit_cron
tests_unit_cron_SOURCES = tests/unit/test_cron.c
tests_unit_cron_CFLAGS = $(TEST_CFLAGS)
tests_unit_cron_LDADD = $(UNIT_LIBS)

# qsched next --after through the binary; no database.
check_PROGRAMS += tests/unit_next_cli
TESTS += tests/unit_next_cli
tests_unit_next_cli_SOURCES = tests/unit/test_next_cli.c \
	tests/unit/test_cfgutil.c tests/unit/test_cfgutil.h
tests_unit_next_cli_CFLAGS = $(TEST_CFLAGS)
tests_unit_next_cli_LDADD = $(UNIT_LIBS) tests/lib/libth.la $(LIBPQ_LIBS)
