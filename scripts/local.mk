# scripts: the README's two commands and the throwaway-cluster helper they
# share with tests/with-pg.sh; shipped so the tarball can test and demo.
EXTRA_DIST += \
	scripts/deps.sh \
	scripts/pg-cluster.sh \
	scripts/test.sh \
	scripts/demo.sh

# configure's exit trap runs "rm -f core ... && rm -f -r conftest* confdefs*";
# in a build directory "core" is the core sources' object directory, so the
# first rm fails and confdefs.h stays behind, which fails make distcheck.
# (Belongs in Makefile.am; kept here until it moves.)
DISTCLEANFILES = confdefs.h
