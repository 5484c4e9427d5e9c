# Plugins: libtool modules exporting only qsched_plugin_describe.
PLUGIN_CC_FLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) -fvisibility=hidden
PLUGIN_LD_FLAGS = $(AM_LDFLAGS) -module -avoid-version -shared \
	-export-symbols-regex '^qsched_plugin_describe$$'

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
	plugins/queue_population/refresh.c
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
plugins_legacy_backfill_la_LIBADD = $(LIBPQ_LIBS)
