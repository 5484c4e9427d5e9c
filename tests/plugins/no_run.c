/* no_run - a descriptor without the required run callback. */
#define REFUSE_NAME	"no_run"
#define REFUSE_RUN	NULL
#include "refuse.h"
