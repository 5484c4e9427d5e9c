/* bad_default - an option whose default does not parse as its own type. */
#include "qsched-plugin.h"

static const struct qsched_option bad_default_options[] = {
	{ .name = "count", .type = QSCHED_OPT_INT, .default_value = "ten",
	  .help = "not an integer" },
	{ .name = NULL },
};

#define REFUSE_NAME	"bad_default"
#define REFUSE_OPTIONS	bad_default_options
#include "refuse.h"
