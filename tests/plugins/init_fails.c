/* init_fails - init() refuses to start. */
#include "qsched-plugin.h"

static int	init_fails_init(const struct qsched_host *);

#define REFUSE_NAME	"init_fails"
#define REFUSE_INIT	init_fails_init
#include "refuse.h"

static int
init_fails_init(const struct qsched_host *host)
{
	(void)host;
	return (-1);
}
