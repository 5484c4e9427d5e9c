# Unit suites of the core's small pure pieces, each named for its file:
# test_run_backoff.c (run.c's retry delay), test_db.c (db.c).
check_PROGRAMS += tests/unit_run_backoff
tests_unit_run_backoff_SOURCES = tests/unit/test_run_backoff.c
tests_unit_run_backoff_CFLAGS = $(TEST_CFLAGS)
tests_unit_run_backoff_LDADD = $(UNIT_LIBS)
TESTS += tests/unit_run_backoff

check_PROGRAMS += tests/unit_db
tests_unit_db_SOURCES = tests/unit/test_db.c
tests_unit_db_CFLAGS = $(TEST_CFLAGS)
tests_unit_db_LDADD = $(UNIT_LIBS)
TESTS += tests/unit_db
