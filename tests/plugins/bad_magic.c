/* bad_magic - a descriptor whose magic is not QSCHED_PLUGIN_MAGIC. */
#define REFUSE_NAME	"bad_magic"
#define REFUSE_MAGIC	0xdeadbeefu
#include "refuse.h"
