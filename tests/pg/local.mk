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

check_PROGRAMS += tests/pg_migrate
TESTS += tests/pg_migrate
tests_pg_migrate_SOURCES = tests/pg/test_migrate.c
tests_pg_migrate_CFLAGS = $(TEST_CFLAGS)
tests_pg_migrate_LDADD = $(PG_TEST_LIBS)

# The daemon: scheduling, outages (exclusive: restarts the server), and
# its notify messages, logging and reports.
check_PROGRAMS += tests/pg_daemon tests/pg_daemon_outage tests/pg_daemon_ops
TESTS += tests/pg_daemon tests/pg_daemon_outage tests/pg_daemon_ops
tests_pg_daemon_SOURCES = tests/pg/test_daemon.c tests/pg/daemon_util.h
tests_pg_daemon_CFLAGS = $(TEST_CFLAGS)
tests_pg_daemon_LDADD = $(PG_TEST_LIBS)
tests_pg_daemon_outage_SOURCES = tests/pg/test_daemon_outage.c tests/pg/daemon_util.h
tests_pg_daemon_outage_CFLAGS = $(TEST_CFLAGS)
tests_pg_daemon_outage_LDADD = $(PG_TEST_LIBS)
tests_pg_daemon_ops_SOURCES = tests/pg/test_daemon_ops.c tests/pg/daemon_util.h
tests_pg_daemon_ops_CFLAGS = $(TEST_CFLAGS)
tests_pg_daemon_ops_LDADD = $(PG_TEST_LIBS)

check_PROGRAMS += tests/pg_population
TESTS += tests/pg_population
tests_pg_population_SOURCES = tests/pg/test_population.c \
	tests/pg/population_fixture.h tests/pg/population_fixture.c
tests_pg_population_CFLAGS = $(TEST_CFLAGS) -pthread
tests_pg_population_LDFLAGS = -pthread
tests_pg_population_LDADD = $(PG_TEST_LIBS)

# The legacy_backfill plugin (fixture helpers shared by both suites).
check_PROGRAMS += tests/pg_backfill tests/pg_backfill_faults
TESTS += tests/pg_backfill tests/pg_backfill_faults
tests_pg_backfill_SOURCES = tests/pg/test_backfill.c \
	tests/pg/backfill_fixture.c tests/pg/backfill_fixture.h
tests_pg_backfill_CFLAGS = $(TEST_CFLAGS)
tests_pg_backfill_LDADD = $(PG_TEST_LIBS)
tests_pg_backfill_faults_SOURCES = tests/pg/test_backfill_faults.c \
	tests/pg/backfill_fixture.c tests/pg/backfill_fixture.h
tests_pg_backfill_faults_CFLAGS = $(TEST_CFLAGS)
tests_pg_backfill_faults_LDADD = $(PG_TEST_LIBS)

# What qsched(8) RELIABILITY promises: durable retries, liveness, a frozen
# server, reload refusals, passwords never shown, 64-bit lock keys.
check_PROGRAMS += tests/pg_reliability
TESTS += tests/pg_reliability
tests_pg_reliability_SOURCES = tests/pg/test_reliability.c tests/pg/daemon_util.h
tests_pg_reliability_CFLAGS = $(TEST_CFLAGS)
tests_pg_reliability_LDADD = $(PG_TEST_LIBS)

# The fault matrix (tests/FAULTS.md): every shipped plugin under every
# fault, one test per cell.
check_PROGRAMS += tests/pg_fault_matrix
TESTS += tests/pg_fault_matrix
tests_pg_fault_matrix_SOURCES = tests/pg/test_fault_matrix.c \
	tests/pg/daemon_util.h \
	tests/pg/backfill_fixture.c tests/pg/backfill_fixture.h \
	tests/pg/population_fixture.c tests/pg/population_fixture.h \
	tests/pg/deprecation_fixture.c tests/pg/deprecation_fixture.h
tests_pg_fault_matrix_CFLAGS = $(TEST_CFLAGS)
tests_pg_fault_matrix_LDADD = $(PG_TEST_LIBS)
EXTRA_DIST += tests/FAULTS.md

# The legacy_deprecation plugin (reuses the backfill fixture's loader).
check_PROGRAMS += tests/pg_deprecation
TESTS += tests/pg_deprecation
tests_pg_deprecation_SOURCES = tests/pg/test_deprecation.c \
	tests/pg/deprecation_fixture.c tests/pg/deprecation_fixture.h \
	tests/pg/backfill_fixture.c tests/pg/backfill_fixture.h
tests_pg_deprecation_CFLAGS = $(TEST_CFLAGS)
tests_pg_deprecation_LDADD = $(PG_TEST_LIBS)

# The perf_benchmark plugin (the population fixture loads the database).
check_PROGRAMS += tests/pg_benchmark
TESTS += tests/pg_benchmark
tests_pg_benchmark_SOURCES = tests/pg/test_benchmark.c \
	tests/pg/population_fixture.h tests/pg/population_fixture.c
tests_pg_benchmark_CFLAGS = $(TEST_CFLAGS) -pthread
tests_pg_benchmark_LDFLAGS = -pthread
tests_pg_benchmark_LDADD = $(PG_TEST_LIBS)
