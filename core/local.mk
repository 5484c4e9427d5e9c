# The core: a convenience library (so the unit tests link the same code)
# and the qsched binary.
noinst_LTLIBRARIES += core/libqsched-core.la
core_libqsched_core_la_SOURCES = \
	core/qsched.h \
	core/log.c \
	core/clock.c \
	core/xmalloc.c \
	core/buf.c \
	core/duration.c \
	core/tz.c \
	core/cron.c \
	core/options.c \
	core/plugin.c \
	core/flags.c \
	core/config_parse.h \
	core/config.c \
	core/config_parse.c \
	core/config_read.c \
	core/config_jobs.c \
	core/config_bind.c \
	core/host.c \
	core/db.c \
	core/schema.c \
	core/lock.c \
	core/report.c \
	core/history.c \
	core/totals.c \
	core/worker.c \
	core/run.c \
	core/run_names.c \
	core/progress.c \
	core/format.c \
	core/fire.c \
	core/notify.c \
	core/retention.c \
	core/book.c \
	core/dispatch.c \
	core/daemon.c \
	core/daemon_state.c \
	core/daemon.h \
	core/signals.c \
	core/metrics.c \
	core/metrics_pipe.c \
	core/metrics_pipe.h \
	core/metrics_http.c
nodist_core_libqsched_core_la_SOURCES = core/core-sql.c
core_libqsched_core_la_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(CONFUSE_CFLAGS) $(INIH_CFLAGS) \
	$(MHD_CFLAGS) -pthread
core_libqsched_core_la_LIBADD = $(LIBPQ_LIBS) $(CONFUSE_LIBS) $(INIH_LIBS) \
	$(MHD_LIBS) -lm -lpthread

# The core schema travels inside the binary (schema.c applies it).  The
# list in sql/local.mk is a prerequisite too: a file taken off it must
# leave the binary.
core_sql_files = $(addprefix $(srcdir)/,$(dist_sqlcore_DATA))
core/core-sql.c: $(top_srcdir)/scripts/embed-sql.sh $(core_sql_files) \
    $(top_srcdir)/sql/local.mk
	$(AM_V_GEN)$(MKDIR_P) core && \
	$(SHELL) $(top_srcdir)/scripts/embed-sql.sh $(core_sql_files) > $@.tmp && \
	mv $@.tmp $@
BUILT_SOURCES += core/core-sql.c
CLEANFILES += core/core-sql.c
EXTRA_DIST += scripts/embed-sql.sh

bin_PROGRAMS += qsched
qsched_SOURCES = \
	core/main.c \
	core/cmd_common.c \
	core/cmd_run.c \
	core/cmd_next.c \
	core/cmd_history.c \
	core/cmd_check.c \
	core/cmd_flags.c \
	core/cmd_plugins.c \
	core/cmd_daemon.c \
	core/cmd_list.c \
	core/cmd_status.c \
	core/cmd_report.c \
	core/cmd_metrics.c
qsched_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS)
qsched_LDADD = core/libqsched-core.la
