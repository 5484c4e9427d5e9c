/* duration.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

int duration_parse(const char *text, int64_t *ms, char *err, size_t errlen) { (void)text; (void)ms; snprintf(err, errlen, "not implemented"); return -1; }
char *duration_format(int64_t ms, char *buf, size_t len) { snprintf(buf, len, "%lldms", (long long)ms); return buf; }
