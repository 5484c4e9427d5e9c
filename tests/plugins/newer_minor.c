/* newer_minor - built against a newer minor ABI than the core's. */
#define REFUSE_NAME	"newer_minor"
#define REFUSE_MINOR	99
#include "refuse.h"
