/*
 * refuse.h - shared by the refusal test plugins: each one differs from a
 * good descriptor in exactly one field, chosen by macros set before this
 * file is included, so the loader's message for that field can be tested.
 */
#include "qsched-plugin.h"

#ifndef REFUSE_NAME
#error REFUSE_NAME must be defined
#endif
#ifndef REFUSE_DESC_NAME
#define REFUSE_DESC_NAME	REFUSE_NAME
#endif
#ifndef REFUSE_MAGIC
#define REFUSE_MAGIC		QSCHED_PLUGIN_MAGIC
#endif
#ifndef REFUSE_MAJOR
#define REFUSE_MAJOR		QSCHED_ABI_MAJOR
#endif
#ifndef REFUSE_MINOR
#define REFUSE_MINOR		QSCHED_ABI_MINOR
#endif
#ifndef REFUSE_SIZE
#define REFUSE_SIZE		sizeof(struct qsched_plugin)
#endif
#ifndef REFUSE_RUN
#define REFUSE_RUN		refuse_run
#endif
#ifndef REFUSE_INIT
#define REFUSE_INIT		NULL
#endif
#ifndef REFUSE_OPTIONS
#define REFUSE_OPTIONS		NULL
#endif

static enum qsched_result
refuse_run(const struct qsched_host *host, struct qsched_run *run)
{
	(void)host;
	(void)run;
	return (QSCHED_OK);
}

static const struct qsched_plugin refuse_plugin = {
	.magic = REFUSE_MAGIC,
	.abi_major = REFUSE_MAJOR,
	.abi_minor = REFUSE_MINOR,
	.size = REFUSE_SIZE,
	.name = REFUSE_DESC_NAME,
	.version = "1.0",
	.summary = "refused on purpose (loader tests)",
	.options = REFUSE_OPTIONS,
	.init = REFUSE_INIT,
	.run = REFUSE_RUN,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	/* Keep the default run referenced when a plugin replaces it. */
	(void)refuse_run;
	return (&refuse_plugin);
}
