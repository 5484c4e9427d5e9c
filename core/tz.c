/* tz.c - STUB: to be written. */
#include "qsched.h"
#include <stdio.h>

int tz_check(const char *zone, char *err, size_t errlen) { (void)zone; snprintf(err, errlen, "not implemented"); return -1; }
void tz_localtime(const char *zone, time_t t, struct tm *tm) { (void)zone; gmtime_r(&t, tm); }
time_t tz_civil_to_instant(const char *zone, const struct tm *civil) { (void)zone; struct tm c = *civil; return timegm(&c); }
char *tz_format(const char *zone, time_t t, char *buf, size_t len) { (void)zone; return tz_format_utc(t, buf, len); }
char *tz_format_utc(time_t t, char *buf, size_t len) { struct tm tm; gmtime_r(&t, &tm); strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm); return buf; }
