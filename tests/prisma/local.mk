# tests/pg_prisma.sh: the shipped schema.prisma and migrations folder with
# the real Prisma CLI and client (tests/prisma/README.md).  Needs node and
# npm; the npm install is cached in $(builddir)/prisma-node.  Skipped (77)
# without them, in the sanitizer build and under distcheck, so CI runs
# it once.
TESTS += tests/pg_prisma.sh
EXTRA_DIST += tests/pg_prisma.sh \
	tests/prisma/README.md \
	tests/prisma/package.json \
	tests/prisma/prisma.config.ts \
	tests/prisma/queue-service.ts \
	tests/prisma/queue-check.ts \
	tests/prisma/compare-models.mjs
if SANITIZERS
AM_TESTS_ENVIRONMENT += QSCHED_SANITIZERS=yes; export QSCHED_SANITIZERS;
endif
distclean-local:
	rm -rf prisma-node
