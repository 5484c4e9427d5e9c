# tests/unit/cron.mk
# Schedules and time zones: cron_parse, cron_next, tz_*.
check_PROGRAMS += tests/unit_cron
TESTS += tests/unit_cron
tests_unit_cron_SOURCES = tests/unit/test_cron.c
tests_unit_cron_CFLAGS = $(TEST_CFLAGS)
tests_unit_cron_LDADD = $(UNIT_LIBS)
