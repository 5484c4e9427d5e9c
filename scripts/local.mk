# scripts: the README's two commands and the throwaway-cluster helper they
# share with tests/with-pg.sh; shipped so the tarball can test and demo.
EXTRA_DIST += \
	scripts/deps.sh \
	scripts/pg-cluster.sh \
	scripts/test.sh \
	scripts/demo.sh \
	scripts/install-check.sh \
	scripts/bench-lib.sh \
	scripts/bench-run.sh \
	scripts/bench-claim.sh \
	scripts/bench-daemon-idle.sh \
	scripts/bench-daemon-lateness.sh \
	scripts/bench-backfill.sh \
	scripts/bench-population.sh \
	scripts/bench-cron.sh \
	scripts/bench-cron.c


# Loads the legacy fixture and generated data; installed beside the SQL it
# loads (its default fixture path, ../sql/fixtures, works in both places).
pkgdatascriptsdir = $(pkgdatadir)/scripts
dist_pkgdatascripts_SCRIPTS = scripts/gen-legacy-data.sh
