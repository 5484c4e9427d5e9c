/*
 * fuzz_config.c - config_load on the input as a jobs.conf file.  A failed
 * load must say why; a loaded one is freed (LeakSanitizer checks both).
 */
#include "qsched.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cfg = NULL;
	char		 err[QSCHED_ERRLEN] = "";

	if (config_load(fuzz_file(data, size, ".conf"), &cfg, err,
	    sizeof err) == 0)
		config_free(cfg);
	else if (err[0] == '\0')
		abort();
	return (0);
}
