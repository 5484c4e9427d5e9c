/* short_size - claims a descriptor smaller than ABI 1.0's. */
#define REFUSE_NAME	"short_size"
#define REFUSE_SIZE	8
#include "refuse.h"
