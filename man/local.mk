# Man pages, linted by tests/man-lint.sh in make check.
dist_man_MANS = \
	man/qsched.8 \
	man/jobs.conf.5 \
	man/qsched-plugin.3 \
	man/qsched-plugins.7
