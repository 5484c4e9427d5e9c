/* config.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

int config_load(const char *path, struct config **out, char *err, size_t errlen) { (void)out; snprintf(err, errlen, "%s: not implemented", path); return -1; }
void config_free(struct config *c) { (void)c; }
struct job *config_job(const struct config *c, const char *name) { (void)c; (void)name; return NULL; }
int config_set_option(struct job *job, const char *a, char *err, size_t errlen) { (void)job; (void)a; snprintf(err, errlen, "not implemented"); return -1; }
struct option_value *job_option(const struct job *job, const char *name) { (void)job; (void)name; return NULL; }
