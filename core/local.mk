# The core: a convenience library (so the unit tests link the same code)
# and the qsched binary.
noinst_LTLIBRARIES += core/libqsched-core.la
core_libqsched_core_la_SOURCES = \
	core/qsched.h \
	core/log.c \
	core/clock.c \
	core/xmalloc.c \
	core/duration.c \
	core/tz.c \
	core/cron.c \
	core/options.c \
	core/plugin.c \
	core/flags.c \
	core/config.c \
	core/host.c
core_libqsched_core_la_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS) $(CONFUSE_CFLAGS) $(INIH_CFLAGS)
core_libqsched_core_la_LIBADD = $(LIBPQ_LIBS) $(CONFUSE_LIBS) $(INIH_LIBS)

bin_PROGRAMS += qsched
qsched_SOURCES = core/main.c
qsched_CFLAGS = $(AM_CFLAGS) $(LIBPQ_CFLAGS)
qsched_LDADD = core/libqsched-core.la
