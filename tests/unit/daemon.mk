# tests/unit/daemon.mk
# The daemon's fire bookkeeping: fire_due, fire_start, fire_latest.
check_PROGRAMS += tests/unit_daemon_fire
TESTS += tests/unit_daemon_fire
tests_unit_daemon_fire_SOURCES = tests/unit/test_daemon_fire.c
tests_unit_daemon_fire_CFLAGS = $(TEST_CFLAGS)
tests_unit_daemon_fire_LDADD = $(UNIT_LIBS)
