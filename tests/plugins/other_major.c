/* other_major - built against ABI 2. */
#define REFUSE_NAME	"other_major"
#define REFUSE_MAJOR	2
#include "refuse.h"
