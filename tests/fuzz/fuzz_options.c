/*
 * fuzz_options.c - option_parse.  The first byte of the input picks an
 * option of the table below, the rest is its value; each value is parsed
 * twice, as jobs.conf and then --set do, so the replacement is freed.
 */
#include "qsched.h"

#include "fuzz.h"

static const struct qsched_option fuzz_options[] = {
	{ "queue", QSCHED_OPT_STRING, 0, NULL, 0, 0,
	    "unsigned_users|outstanding_requests", NULL },
	{ "label", QSCHED_OPT_STRING, 0, NULL, 0, 0, NULL, NULL },
	{ "max_size", QSCHED_OPT_INT, 0, NULL, 0, 1000000, NULL, NULL },
	{ "offset", QSCHED_OPT_INT, 0, NULL, 0, 0, NULL, NULL },
	{ "dry", QSCHED_OPT_BOOL, 0, NULL, 0, 0, NULL, NULL },
	{ "cooling_period", QSCHED_OPT_DURATION, 0, NULL, 1000, 86400000,
	    NULL, NULL },
	{ "pause", QSCHED_OPT_DURATION, 0, NULL, 0, 0, NULL, NULL },
	{ "floor", QSCHED_OPT_INT, 0, NULL, INT64_MIN, -1, NULL, NULL },
	{ "odd", (enum qsched_opt_type)99, 0, NULL, 0, 0, NULL, NULL },
};
#define FUZZ_NOPTIONS	(sizeof fuzz_options / sizeof fuzz_options[0])

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct qsched_option *def;
	struct option_value	 v;
	char			 err[QSCHED_ERRLEN], *text;
	int			 i;

	if (size == 0)
		return (0);
	def = &fuzz_options[data[0] % FUZZ_NOPTIONS];
	text = fuzz_string(data + 1, size - 1);
	memset(&v, 0, sizeof v);
	for (i = 0; i < 2; i++) {
		err[0] = '\0';
		if (option_parse(def, text, &v, err, sizeof err) == 0) {
			if (v.def != def || strcmp(v.text, text) != 0)
				abort();
		} else if (err[0] == '\0')
			abort();
	}
	free(v.text);
	free(text);
	return (0);
}
