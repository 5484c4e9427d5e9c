/*
 * test_metrics.c - metrics_http_parse() (metrics_listen) and the
 * exposition of an empty database part: families, OpenMetrics names.
 */
#include "qsched.h"

#include <string.h>

#include <criterion/criterion.h>

static const struct {
	const char	*text;
	const char	*host;
	const char	*port;
} listen_good[] = {
	{ "9187",		"127.0.0.1",	"9187" },
	{ "127.0.0.1:9187",	"127.0.0.1",	"9187" },
	{ "0.0.0.0:1",		"0.0.0.0",	"1" },
	{ "localhost:65535",	"localhost",	"65535" },
	{ "[::1]:9187",		"::1",		"9187" },
	{ "[fe80::1%eth0]:80",	"fe80::1%eth0",	"80" },
};

static const struct {
	const char	*text;
	const char	*err;
} listen_bad[] = {
	{ "",			"\"\": the port must be a number from 1 to 65535" },
	{ "0",			"\"0\": the port must be a number from 1 to 65535" },
	{ "65536",		"\"65536\": the port must be a number from 1 to 65535" },
	{ "x",			"\"x\": the port must be a number from 1 to 65535" },
	{ "127.0.0.1:",		"\"127.0.0.1:\": the port must be a number from 1 to 65535" },
	{ "127.0.0.1:80x",	"\"127.0.0.1:80x\": the port must be a number from 1 to 65535" },
	{ ":80",		"\":80\": the host is empty" },
	{ "[]:80",		"\"[]:80\": the host is empty" },
	{ "::1:80",		"\"::1:80\": write an IPv6 address as [ADDRESS]:PORT" },
	{ "[::1]",		"\"[::1]\": expected [ADDRESS]:PORT" },
	{ "[::1:80",		"\"[::1:80\": expected [ADDRESS]:PORT" },
};

Test(metrics, listen_good_values)
{
	char	 host[256], port[8], err[QSCHED_ERRLEN];

	for (size_t i = 0; i < sizeof listen_good / sizeof *listen_good;
	    i++) {
		cr_assert_eq(metrics_http_parse(listen_good[i].text, host,
		    sizeof host, port, sizeof port, err, sizeof err), 0,
		    "%s: %s", listen_good[i].text, err);
		cr_expect_str_eq(host, listen_good[i].host, "%s",
		    listen_good[i].text);
		cr_expect_str_eq(port, listen_good[i].port, "%s",
		    listen_good[i].text);
	}
}

Test(metrics, listen_bad_values)
{
	char	 host[256], port[8], err[QSCHED_ERRLEN];

	for (size_t i = 0; i < sizeof listen_bad / sizeof *listen_bad; i++) {
		cr_assert_eq(metrics_http_parse(listen_bad[i].text, host,
		    sizeof host, port, sizeof port, err, sizeof err), -1,
		    "%s accepted", listen_bad[i].text);
		cr_expect_str_eq(err, listen_bad[i].err);
	}
}

Test(metrics, listen_host_too_long)
{
	char	 host[8], port[8], err[QSCHED_ERRLEN];

	cr_assert_eq(metrics_http_parse("averylonghostname:80", host,
	    sizeof host, port, sizeof port, err, sizeof err), -1);
	cr_expect_str_eq(err, "\"averylonghostname:80\": the host is too long");
}

/* Before any database read: the live part and the metrics' own gauges. */
Test(metrics, format_without_database)
{
	struct metrics_job job = { .name = "a\"b", .plugin = "sql",
	    .schedule = "@manual" };
	struct metrics_live lv = { .jobs = &job, .njobs = 1 };
	struct metrics_db *db = metrics_db_new(1000);
	struct buf	 b = { NULL, 0, 0 };

	metrics_format(&b, db, &lv, METRICS_TEXT);
	cr_expect(strstr(b.data, "qsched_job_info{job=\"a\\\"b\","
	    "plugin=\"sql\",schedule=\"@manual\"} 1\n") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "qsched_metrics_db_up 0\n") != NULL);
	cr_expect(strstr(b.data, "qsched_job_runs_total") == NULL);
	cr_expect(strstr(b.data, "qsched_daemon_up") == NULL);
	cr_expect(strstr(b.data, "# EOF") == NULL);
	buf_free(&b);

	lv.daemon = true;
	lv.reconnects = 3;
	metrics_format(&b, db, &lv, METRICS_OPENMETRICS);
	cr_expect(strstr(b.data, "# TYPE qsched_daemon_reconnects counter\n"
	    "qsched_daemon_reconnects_total 3\n") != NULL, "%s", b.data);
	cr_expect(strcmp(b.data + b.len - 6, "# EOF\n") == 0);
	buf_free(&b);
	metrics_db_free(db);
}

/* Label values escaped (backslash, quote, newline, in runs of plain
 * characters) and numbers written as the text format wants them. */
Test(metrics, format_escapes_and_numbers)
{
	struct metrics_job job = { .name = "x\\y\"z\nend", .plugin = "sql",
	    .schedule = "*/5 * * * *", .interval_s = 86400,
	    .next_fire = 1767225600 };
	struct metrics_live lv = { .jobs = &job, .njobs = 1, .daemon = true,
	    .reconnects = 1234567890123, .reloads_failed = 0 };
	struct metrics_db *db = metrics_db_new(1000);
	struct buf	 b = { NULL, 0, 0 };

	metrics_format(&b, db, &lv, METRICS_TEXT);
	cr_expect(strstr(b.data, "qsched_job_info{job=\"x\\\\y\\\"z\\nend\","
	    "plugin=\"sql\",schedule=\"*/5 * * * *\"} 1\n") != NULL, "%s",
	    b.data);
	cr_expect(strstr(b.data, "qsched_job_schedule_interval_seconds{job="
	    "\"x\\\\y\\\"z\\nend\"} 86400\n") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "qsched_job_next_fire_timestamp_seconds{job="
	    "\"x\\\\y\\\"z\\nend\"} 1767225600\n") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "qsched_daemon_reconnects_total "
	    "1234567890123\n") != NULL, "%s", b.data);
	cr_expect(strstr(b.data, "qsched_daemon_config_reloads_total{result="
	    "\"failed\"} 0\n") != NULL, "%s", b.data);
	/* Before any refresh: 0, not 0.000000. */
	cr_expect(strstr(b.data, "qsched_metrics_db_refresh_seconds 0\n") !=
	    NULL, "%s", b.data);
	buf_free(&b);
	metrics_db_free(db);
}
