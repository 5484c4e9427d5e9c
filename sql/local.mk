# SQL: core/ is built into the binary (core/local.mk) and installed for
# reference; list new core files here, in version order.
coresqldir = $(pkgdatadir)/sql/core
dist_coresql_DATA = \
	sql/core/0001_runs.sql \
	sql/core/0002_job_summary.sql
