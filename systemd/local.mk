# systemd: qsched.service, made from its .in with the configured paths,
# installed when configure found (or was given) a unit directory.
systemd/qsched.service: $(top_srcdir)/systemd/qsched.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && \
	sed -e 's|@bindir[@]|$(bindir)|g' \
	    -e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	    $(top_srcdir)/systemd/qsched.service.in > $@.tmp && \
	mv $@.tmp $@

if HAVE_SYSTEMD_UNITDIR
systemdsystemunit_DATA = systemd/qsched.service
else
noinst_DATA = systemd/qsched.service
endif
CLEANFILES += systemd/qsched.service
EXTRA_DIST += systemd/qsched.service.in systemd/test-unit.sh

# systemd-analyze verify and security of the unit, pointed at the built
# binary (skipped without systemd-analyze).
TESTS += systemd/test-unit.sh
