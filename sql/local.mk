# SQL files, installed under $(pkgdatadir)/sql:
#   core/        qsched's own bookkeeping schema, applied by the core
#   migrations/  the domain schema, applied in order by schema_migrate
#   fixtures/    the app's legacy schema and the data generator (demo,
#                tests, benchmarks; scripts/gen-legacy-data.sh loads them)
# dist_*_DATA also puts them in the tarball.  Migrations are applied in
# the order of their names; list new ones here too.
sqlcoredir = $(pkgdatadir)/sql/core
sqlmigrationsdir = $(pkgdatadir)/sql/migrations
sqlfixturesdir = $(pkgdatadir)/sql/fixtures

# sql/core/NNNN_*.sql (the core's schema files go here).
SQL_CORE_FILES =

SQL_MIGRATION_FILES = \
	sql/migrations/0001_separated_queue_tables.sql \
	sql/migrations/0002_separated_queue_constraints.sql \
	sql/migrations/0003_validate_separated_queue_constraints.sql \
	sql/migrations/0004_separated_queue_live_duplicates.sql \
	sql/migrations/0005_separated_queue_indexes.sql \
	sql/migrations/0006_queue_functions.sql

SQL_FIXTURE_FILES = \
	sql/fixtures/legacy_schema.sql \
	sql/fixtures/app_separated_tables.sql \
	sql/fixtures/generate.sql

dist_sqlcore_DATA = $(SQL_CORE_FILES)
dist_sqlmigrations_DATA = $(SQL_MIGRATION_FILES)
dist_sqlfixtures_DATA = $(SQL_FIXTURE_FILES)
