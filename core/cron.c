/* cron.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

int cron_parse(const char *text, struct cron *c, char *err, size_t errlen) { (void)text; (void)c; snprintf(err, errlen, "not implemented"); return -1; }
int cron_next(const struct cron *c, const char *zone, time_t after, time_t *next) { (void)c; (void)zone; (void)after; (void)next; return -1; }
