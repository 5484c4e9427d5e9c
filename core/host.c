/* host.c - STUB: the services table handed to plugins. */
#include "qsched.h"

const struct qsched_host host_services = {
	.size = sizeof(struct qsched_host),
	.abi_major = QSCHED_ABI_MAJOR,
	.abi_minor = QSCHED_ABI_MINOR,
	.version = PACKAGE_VERSION,
};
