# Tests.  Every suite is a Criterion program run by tests/with-pg.sh:
# suites named tests/pg_* get a throwaway PostgreSQL cluster (PGHOST,
# PGPORT set; each test makes its own database), the others run as they are.
LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/with-pg.sh
AM_TESTS_ENVIRONMENT = \
	QSCHED_BIN='$(abs_top_builddir)/qsched'; export QSCHED_BIN; \
	QSCHED_SRCDIR='$(abs_top_srcdir)'; export QSCHED_SRCDIR; \
	QSCHED_BUILDDIR='$(abs_top_builddir)'; export QSCHED_BUILDDIR; \
	QSCHED_PLUGIN_BUILDDIR='$(abs_top_builddir)/plugins/.libs'; export QSCHED_PLUGIN_BUILDDIR; \
	QSCHED_TEST_PLUGINDIR='$(abs_top_builddir)/tests/plugins/.libs'; export QSCHED_TEST_PLUGINDIR; \
	PG_BINDIR='$(PG_BINDIR)'; export PG_BINDIR;
EXTRA_DIST += tests/with-pg.sh tests/README

TEST_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(CRITERION_CFLAGS) -I$(top_srcdir)/tests/lib
UNIT_LIBS = core/libqsched-core.la $(CRITERION_LIBS)

if HAVE_CRITERION
include tests/lib/local.mk
include tests/plugins/local.mk
include tests/unit/cron.mk
include tests/unit/config.mk
include tests/unit/migrate.mk
include tests/unit/core.mk
include tests/unit/daemon.mk

include tests/unit/backfill.mk
include tests/pg/local.mk
endif

TESTS += tests/man-lint.sh
EXTRA_DIST += tests/man-lint.sh

# The files of core/ call each other without cycles.
TESTS += tests/core-graph.sh
EXTRA_DIST += tests/core-graph.sh
