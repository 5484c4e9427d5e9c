# The schema_migrate plugin's database-free parts, compiled in directly
# (the plugin exports nothing but its descriptor).
check_PROGRAMS += tests/unit_migrate_parts
tests_unit_migrate_parts_SOURCES = tests/unit/test_migrate_parts.c \
	plugins/schema_migrate/sha256.c plugins/schema_migrate/split.c
tests_unit_migrate_parts_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/plugins/schema_migrate
tests_unit_migrate_parts_LDADD = $(CRITERION_LIBS)
TESTS += tests/unit_migrate_parts
