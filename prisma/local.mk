# The app's side of the schema, installed under $(pkgdatadir)/prisma:
#   schema.prisma        the app's models for the tables qsched works on
#   migrations/          Prisma's migrations folder, generated here from
#                        sql/migrations (prisma/migrations.sh): one
#                        <name>/migration.sql per file, named as the
#                        schema_migrate plugin's Prisma ledger mirror
#                        names it, and migration_lock.toml
# The folder is a build output: it follows sql/local.mk's list.
prismadir = $(pkgdatadir)/prisma
dist_prisma_DATA = prisma/schema.prisma
EXTRA_DIST += prisma/migrations.sh

PRISMA_MIGRATION_FILES = $(dist_sqlmigrations_DATA:%=$(top_srcdir)/%)

prisma/migrations/migration_lock.toml: $(dist_sqlmigrations_DATA) \
    $(top_srcdir)/prisma/migrations.sh
	$(AM_V_GEN)$(MKDIR_P) prisma && \
	    $(SHELL) $(top_srcdir)/prisma/migrations.sh prisma/migrations \
	    $(PRISMA_MIGRATION_FILES)

all-local: prisma/migrations/migration_lock.toml

install-data-local: prisma/migrations/migration_lock.toml
	$(MKDIR_P) '$(DESTDIR)$(prismadir)/migrations'
	$(INSTALL_DATA) prisma/migrations/migration_lock.toml \
	    '$(DESTDIR)$(prismadir)/migrations/migration_lock.toml'
	for d in prisma/migrations/*/; do \
		n=`basename "$$d"`; \
		$(MKDIR_P) "$(DESTDIR)$(prismadir)/migrations/$$n" && \
		$(INSTALL_DATA) "$$d/migration.sql" \
		    "$(DESTDIR)$(prismadir)/migrations/$$n/migration.sql" || exit 1; \
	done

uninstall-local:
	rm -rf '$(DESTDIR)$(prismadir)/migrations'

clean-local:
	rm -rf prisma/migrations prisma/migrations.tmp
