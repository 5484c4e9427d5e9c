/* options.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

int option_parse(const struct qsched_option *def, const char *text, struct option_value *v, char *err, size_t errlen) { (void)def; (void)text; (void)v; snprintf(err, errlen, "not implemented"); return -1; }
int option_parse_bool(const char *text, bool *out) { (void)text; (void)out; return -1; }
const struct qsched_option *option_find(const struct qsched_option *table, const char *name) { (void)table; (void)name; return NULL; }
