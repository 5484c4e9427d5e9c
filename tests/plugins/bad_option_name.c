/* bad_option_name - an option table with a name outside [a-z0-9_]+. */
#include "qsched-plugin.h"

static const struct qsched_option bad_option_name_options[] = {
	{ .name = "fine", .type = QSCHED_OPT_STRING, .help = "a good one" },
	{ .name = "Max-Size", .type = QSCHED_OPT_INT, .help = "a bad name" },
	{ .name = NULL },
};

#define REFUSE_NAME	"bad_option_name"
#define REFUSE_OPTIONS	bad_option_name_options
#include "refuse.h"
