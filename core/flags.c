/* flags.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

const char *const flag_names[FLAG_COUNT] = { "use_new_queues", "populate_separated_tables", "fallback_to_legacy", "populate_legacy_queue" };
int flags_load(const char *path, struct flags *f, char *err, size_t errlen) { (void)path; (void)f; snprintf(err, errlen, "not implemented"); return -1; }
int flags_get(const struct flags *f, const char *name) { (void)f; (void)name; return -1; }
char *flags_json(const struct flags *f) { (void)f; return xstrdup("{}"); }
