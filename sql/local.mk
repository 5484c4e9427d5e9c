# SQL files, installed under $(pkgdatadir)/sql:
#   core/        qsched's own bookkeeping schema, built into the binary
#                (core/local.mk) and applied by the core; installed for
#                reference
#   migrations/  the domain schema, applied in order by schema_migrate
#   fixtures/    the app's legacy schema and the data generator (demo,
#                tests, benchmarks; scripts/gen-legacy-data.sh loads them)
# dist_*_DATA also puts them in the tarball.  List new files here, in
# version order.
sqlcoredir = $(pkgdatadir)/sql/core
sqlmigrationsdir = $(pkgdatadir)/sql/migrations
sqlfixturesdir = $(pkgdatadir)/sql/fixtures

dist_sqlcore_DATA = \
	sql/core/0001_runs.sql \
	sql/core/0002_job_summary.sql \
	sql/core/0003_liveness.sql \
	sql/core/0004_job_totals.sql \
	sql/core/0005_lock_key.sql

dist_sqlmigrations_DATA = \
	sql/migrations/0001_separated_queue_tables.sql \
	sql/migrations/0002_separated_queue_constraints.sql \
	sql/migrations/0003_validate_separated_queue_constraints.sql \
	sql/migrations/0004_separated_queue_live_duplicates.sql \
	sql/migrations/0005_separated_queue_indexes.sql \
	sql/migrations/0006_queue_functions.sql \
	sql/migrations/0008_population_indexes.sql \
	sql/migrations/0009_population_positions.sql \
	sql/migrations/0010_claim_wait_holds_nothing.sql \
	sql/migrations/0011_population_change_log.sql

dist_sqlfixtures_DATA = \
	sql/fixtures/legacy_schema.sql \
	sql/fixtures/app_separated_tables.sql \
	sql/fixtures/generate.sql
