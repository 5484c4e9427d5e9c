# Unit suites of the core's small pure pieces.
check_PROGRAMS += tests/unit_backoff
tests_unit_backoff_SOURCES = tests/unit/test_backoff.c
tests_unit_backoff_CFLAGS = $(TEST_CFLAGS)
tests_unit_backoff_LDADD = $(UNIT_LIBS)
TESTS += tests/unit_backoff
