# Integration suites: `qsched` end to end against a throwaway PostgreSQL.
PG_TEST_LIBS = tests/lib/libth.la $(CRITERION_LIBS) $(LIBPQ_LIBS)

check_PROGRAMS += tests/pg_run tests/pg_faults tests/pg_cli
TESTS += tests/pg_run tests/pg_faults tests/pg_cli
tests_pg_run_SOURCES = tests/pg/test_run.c
tests_pg_run_CFLAGS = $(TEST_CFLAGS)
tests_pg_run_LDADD = $(PG_TEST_LIBS)
tests_pg_faults_SOURCES = tests/pg/test_faults.c
tests_pg_faults_CFLAGS = $(TEST_CFLAGS)
tests_pg_faults_LDADD = $(PG_TEST_LIBS)
tests_pg_cli_SOURCES = tests/pg/test_cli.c
tests_pg_cli_CFLAGS = $(TEST_CFLAGS)
tests_pg_cli_LDADD = $(PG_TEST_LIBS)

check_PROGRAMS += tests/pg_population
TESTS += tests/pg_population
tests_pg_population_SOURCES = tests/pg/test_population.c \
	tests/pg/population_fixture.h tests/pg/population_fixture.c
tests_pg_population_CFLAGS = $(TEST_CFLAGS) -pthread
tests_pg_population_LDFLAGS = -pthread
tests_pg_population_LDADD = $(PG_TEST_LIBS)
