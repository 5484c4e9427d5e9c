# scripts: the README's two commands and the throwaway-cluster helper they
# share with tests/with-pg.sh; shipped so the tarball can test and demo.
EXTRA_DIST += \
	scripts/deps.sh \
	scripts/pg-cluster.sh \
	scripts/test.sh \
	scripts/demo.sh

