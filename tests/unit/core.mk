# Unit suites of the core's small pure pieces.
check_PROGRAMS += tests/unit_backoff
tests_unit_backoff_SOURCES = tests/unit/test_backoff.c
tests_unit_backoff_CFLAGS = $(TEST_CFLAGS)
tests_unit_backoff_LDADD = $(UNIT_LIBS)
TESTS += tests/unit_backoff

# metrics_listen and the exposition without a database (metrics.c,
# metrics_http.c); the rest is tests/pg_metrics.sh.
check_PROGRAMS += tests/unit_metrics
tests_unit_metrics_SOURCES = tests/unit/test_metrics.c
tests_unit_metrics_CFLAGS = $(TEST_CFLAGS)
tests_unit_metrics_LDADD = $(UNIT_LIBS)
TESTS += tests/unit_metrics
