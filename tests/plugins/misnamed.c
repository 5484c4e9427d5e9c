/* misnamed - the file is misnamed.so, the descriptor says otherwise. */
#define REFUSE_NAME		"misnamed"
#define REFUSE_DESC_NAME	"someone_else"
#include "refuse.h"
