# The legacy_backfill plugin's database-free parts, compiled in directly
# (the plugin exports nothing but its descriptor).
check_PROGRAMS += tests/unit_backfill_parts
tests_unit_backfill_parts_SOURCES = tests/unit/test_backfill_parts.c \
	plugins/legacy_backfill/state.c plugins/legacy_backfill/query.c
tests_unit_backfill_parts_CFLAGS = $(TEST_CFLAGS) \
	-I$(top_srcdir)/plugins/legacy_backfill
tests_unit_backfill_parts_LDADD = $(CRITERION_LIBS) $(LIBPQ_LIBS)
TESTS += tests/unit_backfill_parts
