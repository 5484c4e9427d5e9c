# Plugins: libtool modules exporting only qsched_plugin_describe.
PLUGIN_CC_FLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -fvisibility=hidden
PLUGIN_LD_FLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-export-symbols-regex '^qsched_plugin_describe$$'

# Health throttling, shared by legacy_backfill and legacy_deprecation: a
# convenience library, compiled like the modules (hidden symbols).
noinst_LTLIBRARIES += plugins/libhealth.la
plugins_libhealth_la_SOURCES = \
	plugins/common/health.h \
	plugins/common/health.c
plugins_libhealth_la_CFLAGS = $(PLUGIN_CC_FLAGS)

plugin_LTLIBRARIES += plugins/sql.la
plugins_sql_la_SOURCES = plugins/sql.c
plugins_sql_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_sql_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_sql_la_LIBADD = $(LIBPQ_LIBS)

plugin_LTLIBRARIES += plugins/schema_migrate.la
plugins_schema_migrate_la_SOURCES = \
	plugins/schema_migrate/migrate.h \
	plugins/schema_migrate/migrate.c \
	plugins/schema_migrate/files.c \
	plugins/schema_migrate/ledger.c \
	plugins/schema_migrate/prisma.c \
	plugins/schema_migrate/lock.c \
	plugins/schema_migrate/apply.c \
	plugins/schema_migrate/split.c \
	plugins/schema_migrate/sha256.c
plugins_schema_migrate_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_schema_migrate_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_schema_migrate_la_LIBADD = $(LIBPQ_LIBS)

plugin_LTLIBRARIES += plugins/queue_population.la
plugins_queue_population_la_SOURCES = \
	plugins/queue_population/population.h \
	plugins/queue_population/population.c \
	plugins/queue_population/queues.c \
	plugins/queue_population/refresh.c \
	plugins/queue_population/changes.c \
	plugins/queue_population/scoped.c
plugins_queue_population_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_queue_population_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_queue_population_la_LIBADD = $(LIBPQ_LIBS)

plugin_LTLIBRARIES += plugins/legacy_backfill.la
plugins_legacy_backfill_la_SOURCES = \
	plugins/legacy_backfill/backfill.h \
	plugins/legacy_backfill/backfill.c \
	plugins/legacy_backfill/state.c \
	plugins/legacy_backfill/query.c \
	plugins/legacy_backfill/plan.c \
	plugins/legacy_backfill/batch.c \
	plugins/legacy_backfill/parallel.c \
	plugins/legacy_backfill/proof.c \
	plugins/legacy_backfill/throttle.c
plugins_legacy_backfill_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_legacy_backfill_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_legacy_backfill_la_LIBADD = plugins/libhealth.la $(LIBPQ_LIBS)

plugin_LTLIBRARIES += plugins/legacy_deprecation.la
plugins_legacy_deprecation_la_SOURCES = \
	plugins/legacy_deprecation/deprecation.h \
	plugins/legacy_deprecation/deprecation.c \
	plugins/legacy_deprecation/ledger.c \
	plugins/legacy_deprecation/gates.c \
	plugins/legacy_deprecation/plan.c \
	plugins/legacy_deprecation/range.c \
	plugins/legacy_deprecation/archive.c \
	plugins/legacy_deprecation/purge.c \
	plugins/legacy_deprecation/report.c
plugins_legacy_deprecation_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_legacy_deprecation_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_legacy_deprecation_la_LIBADD = plugins/libhealth.la $(LIBPQ_LIBS)

plugin_LTLIBRARIES += plugins/perf_benchmark.la
plugins_perf_benchmark_la_SOURCES = \
	plugins/perf_benchmark/bench.h \
	plugins/perf_benchmark/bench.c \
	plugins/perf_benchmark/ops.c \
	plugins/perf_benchmark/hist.c \
	plugins/perf_benchmark/load.c \
	plugins/perf_benchmark/plan.c \
	plugins/perf_benchmark/guard.c \
	plugins/perf_benchmark/store.c \
	plugins/perf_benchmark/html.c
plugins_perf_benchmark_la_CFLAGS = $(PLUGIN_CC_FLAGS)
plugins_perf_benchmark_la_LDFLAGS = $(PLUGIN_LD_FLAGS)
plugins_perf_benchmark_la_LIBADD = $(LIBPQ_LIBS)
