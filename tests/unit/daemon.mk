# tests/unit/daemon.mk
# The daemon's fire bookkeeping (fire.c): fire_due, fire_start, fire_latest.
check_PROGRAMS += tests/unit_fire
TESTS += tests/unit_fire
tests_unit_fire_SOURCES = tests/unit/test_fire.c
tests_unit_fire_CFLAGS = $(TEST_CFLAGS)
tests_unit_fire_LDADD = $(UNIT_LIBS)
