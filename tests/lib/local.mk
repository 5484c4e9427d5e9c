# tests/lib: the integration-test helpers (th.h) and their own suite.
# libth is linked by every pg_* suite with $(CRITERION_LIBS) $(LIBPQ_LIBS).
check_LTLIBRARIES += tests/lib/libth.la
tests_lib_libth_la_SOURCES = tests/lib/th.h tests/lib/th.c
tests_lib_libth_la_CFLAGS = $(TEST_CFLAGS)

check_PROGRAMS += tests/pg_harness
TESTS += tests/pg_harness
tests_pg_harness_SOURCES = tests/lib/test_harness.c
tests_pg_harness_CFLAGS = $(TEST_CFLAGS)
tests_pg_harness_LDADD = tests/lib/libth.la $(CRITERION_LIBS) $(LIBPQ_LIBS)
