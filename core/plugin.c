/* plugin.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

struct plugin *plugin_load(const char *dir, const char *name, char *err, size_t errlen) { (void)dir; (void)name; snprintf(err, errlen, "not implemented"); return NULL; }
int plugin_name_valid(const char *name) { (void)name; return 0; }
int plugin_scan(const char *dir, void (*fn)(const char *, struct plugin *, const char *, void *), void *arg) { (void)dir; (void)fn; (void)arg; return -1; }
void plugin_fini_all(void) { }
