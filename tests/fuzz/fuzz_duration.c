/*
 * fuzz_duration.c - duration_parse; what it accepts must come back from
 * duration_format as text that parses to the same value.
 */
#include "qsched.h"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	 err[QSCHED_ERRLEN], buf[64], *text;
	int64_t	 ms, again;

	text = fuzz_string(data, size);
	if (duration_parse(text, &ms, err, sizeof err) == 0) {
		if (ms < 0)
			abort();
		duration_format(ms, buf, sizeof buf);
		if (duration_parse(buf, &again, err, sizeof err) != 0 ||
		    again != ms)
			abort();
	} else if (err[0] == '\0')
		abort();
	free(text);
	return (0);
}
