/*
 * fuzz_flags.c - flags_load on the input as a flags.ini file.  A failed
 * load must say why and leave the flags as they were.
 */
#include "qsched.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flags	 f, before;
	char		 err[QSCHED_ERRLEN] = "";

	memset(&f, 0x5a, sizeof f);
	before = f;
	if (flags_load(fuzz_file(data, size, ".ini"), &f, err,
	    sizeof err) != 0 && (err[0] == '\0' ||
	    memcmp(&f, &before, sizeof f) != 0))
		abort();
	return (0);
}
