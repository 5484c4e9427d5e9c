/*
 * fuzz_flags.c - flags_load on the input as a flags.ini file, against the
 * migration flags as the shipped plugins and jobs.conf declare them.  A
 * failed load must say why and leave the flags as they were.
 */
#include "qsched.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "use_new_queues",
	    "populate_separated_tables", "fallback_to_legacy",
	    "populate_legacy_queue" };
	static struct config c;
	struct flags	 f, before;
	char		 err[QSCHED_ERRLEN] = "";

	if (c.nflags == 0) {
		c.path = "fuzz";
		for (size_t i = 0; i < 4; i++)
			if (flags_declare(&c, "queue_migration", names[i],
			    i == 1 || i == 2, "", "fuzz", err, sizeof err) != 0)
				abort();
	}
	c.flags_file = (char *)fuzz_file(data, size, ".ini");
	memset(&f, 0x5a, sizeof f);
	before = f;
	if (flags_load(&c, &f, err, sizeof err) != 0 && (err[0] == '\0' ||
	    memcmp(&f, &before, sizeof f) != 0))
		abort();
	return (0);
}
