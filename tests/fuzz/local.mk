# tests/fuzz: libFuzzer targets for the readers of untrusted text, run by
# `make fuzz` (not by make check).  See tests/fuzz/run.sh for what a run
# does and prints.
#
#   make fuzz                        every target for FUZZ_SECONDS (60)
#   make fuzz FUZZ_SECONDS=600 FUZZ_JOBS=2 FUZZ_TARGETS='cron config'
#
# libFuzzer is clang's, and the core is built with $(CC) (gcc) as a
# libtool convenience library, so the core sources the targets need are
# compiled a second time here, with clang and coverage instrumentation,
# into tests/fuzz/obj/ and one archive: each target links only the objects
# it uses, so a core file that comes, goes or changes its dependencies
# needs no edit here.  Everything generated lives under tests/fuzz/ in the
# build tree (bin/, obj/, seeds/, corpus/, crashes/); `make fuzz-clean`
# removes it.
FUZZ_CC = clang
FUZZ_SECONDS = 60
FUZZ_JOBS = 2
FUZZ_TARGETS = cron duration config flags options
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -Wall -Wextra
FUZZ_CPPFLAGS = -I$(top_builddir) $(AM_CPPFLAGS) $(LIBPQ_CFLAGS) $(MHD_CFLAGS) \
	$(CONFUSE_CFLAGS) $(INIH_CFLAGS)
FUZZ_LIBS = $(LIBPQ_LIBS) $(CONFUSE_LIBS) $(INIH_LIBS) $(MHD_LIBS) -lm \
	-lpthread $(LIBS)

fuzz_core_src = $(filter %.c,$(core_libqsched_core_la_SOURCES))
fuzz_core_obj = $(patsubst core/%.c,tests/fuzz/obj/%.o,$(fuzz_core_src)) \
	tests/fuzz/obj/core-sql.o
fuzz_headers = $(top_srcdir)/core/qsched.h $(top_srcdir)/core/config_parse.h \
	$(top_srcdir)/include/qsched-plugin.h $(top_builddir)/config.h
fuzz_bins = $(patsubst %,tests/fuzz/bin/fuzz_%,$(FUZZ_TARGETS))

EXTRA_DIST += tests/fuzz/fuzz.h tests/fuzz/run.sh \
	tests/fuzz/fuzz_cron.c tests/fuzz/fuzz_duration.c \
	tests/fuzz/fuzz_config.c tests/fuzz/fuzz_flags.c \
	tests/fuzz/fuzz_options.c

tests/fuzz/obj/%.o: $(top_srcdir)/core/%.c $(fuzz_headers)
	@$(MKDIR_P) tests/fuzz/obj
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) $(FUZZ_SAN) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

tests/fuzz/obj/core-sql.o: core/core-sql.c
	@$(MKDIR_P) tests/fuzz/obj
	$(AM_V_CC)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ core/core-sql.c

tests/fuzz/obj/libcore.a: $(fuzz_core_obj)
	$(AM_V_AR)rm -f $@ && $(AR) cr $@ $(fuzz_core_obj)

tests/fuzz/bin/fuzz_%: $(top_srcdir)/tests/fuzz/fuzz_%.c \
    $(top_srcdir)/tests/fuzz/fuzz.h tests/fuzz/obj/libcore.a
	@$(MKDIR_P) tests/fuzz/bin
	$(AM_V_CCLD)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -Werror \
	    $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< tests/fuzz/obj/libcore.a \
	    $(FUZZ_LIBS)

fuzz-build: $(fuzz_bins)

fuzz: fuzz-build
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZ_JOBS='$(FUZZ_JOBS)' \
	    $(SHELL) $(top_srcdir)/tests/fuzz/run.sh '$(top_srcdir)' \
	    tests/fuzz $(FUZZ_TARGETS)

fuzz-clean:
	rm -rf tests/fuzz/bin tests/fuzz/obj tests/fuzz/seeds \
	    tests/fuzz/corpus tests/fuzz/crashes tests/fuzz/work \
	    tests/fuzz/*.log tests/fuzz/*.rc

.PHONY: fuzz fuzz-build fuzz-clean
