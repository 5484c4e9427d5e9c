/*
 * config.c - jobs.conf, design section 3.5, parsed with libconfuse.
 *
 * Values are checked as they are parsed (validation and parse callbacks),
 * so every error carries the line it was found on; what needs the whole
 * file (plugins, their options, depends_on) is checked afterwards with
 * lines recorded during the parse.  Every error is one line,
 * "FILE:LINE: message", and a failed load frees everything it built.
 *
 The text libconfuse parses comes from config_read.c; the jobs are built
 * and checked as a whole in config_jobs.c.
 *
 * Three quirks of libconfuse 3.3 shape these files:
 * - its lexer miscounts lines after '#', '//' and one-line C comments, so
 *   comments are blanked out (newlines kept) before libconfuse sees the
 *   text (config_read.c);
 * - it accepts a file that ends inside a section, so braces are counted
 *   in the same pass;
 * - it reports a spurious "no such option" for every key of a
 *   CFGF_KEYSTRVAL section; that message is filtered, and it is the only
 *   place the line of each key of options { } can be learnt.
 * Callbacks get no user pointer, hence config_cur: the parse in progress
 * (qsched is single-threaded).
 */
#include "config_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_RETRIES_MAX	1000

static struct config_parse	*config_cur;

static int	config_parse_int(cfg_t *, cfg_opt_t *, const char *, void *);
static int	config_parse_bool(cfg_t *, cfg_opt_t *, const char *, void *);

static cfg_opt_t config_options_opts[] = {
	CFG_END()
};

static cfg_opt_t config_mark_opts[] = {
	CFG_END()
};

static cfg_opt_t config_job_opts[] = {
	CFG_STR("plugin", NULL, CFGF_NODEFAULT),
	CFG_STR("schedule", NULL, CFGF_NODEFAULT),
	CFG_STR("timezone", NULL, CFGF_NODEFAULT),
	CFG_STR("timeout", "0", CFGF_NONE),
	CFG_INT_CB("retries", 0, CFGF_NONE, config_parse_int),
	CFG_STR("retry_delay", "30s", CFGF_NONE),
	CFG_STR("overlap", "skip", CFGF_NONE),
	CFG_STR("lock", NULL, CFGF_NODEFAULT),
	CFG_BOOL_CB("catch_up", cfg_false, CFGF_NONE, config_parse_bool),
	CFG_STR_LIST("depends_on", "{}", CFGF_NONE),
	CFG_BOOL_CB("enabled", cfg_true, CFGF_NONE, config_parse_bool),
	CFG_STR("lock_timeout", "0", CFGF_NONE),
	CFG_STR("statement_timeout", "0", CFGF_NONE),
	CFG_SEC("options", config_options_opts, CFGF_KEYSTRVAL),
	CFG_SEC(CONFIG_MARK, config_mark_opts, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t config_flag_opts[] = {
	CFG_STR("section", NULL, CFGF_NODEFAULT),
	CFG_BOOL_CB("default", cfg_false, CFGF_NONE, config_parse_bool),
	CFG_STR("help", "", CFGF_NONE),
	CFG_SEC(CONFIG_MARK, config_mark_opts, CFGF_NONE),
	CFG_END()
};

static cfg_opt_t config_opts[] = {
	CFG_STR("database", "", CFGF_NONE),
	CFG_STR("plugin_dir", QSCHED_PLUGINDIR, CFGF_NONE),
	CFG_STR("flags_file", QSCHED_SYSCONFDIR "/flags.ini", CFGF_NONE),
	CFG_STR("timezone", "UTC", CFGF_NONE),
	CFG_STR("history_retention", "90d", CFGF_NONE),
	CFG_SEC("job", config_job_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_SEC("flag", config_flag_opts,
	    CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
	CFG_END()
};

/*
 * Keys whose value is a duration, at the top level and in a job, with
 * their largest value: the server's own limit for its timeouts (an int of
 * milliseconds), so a value that would fail every run fails the load.
 */
#define CONFIG_SERVER_MS_MAX	2147483647LL
static const struct {
	const char	*key;
	int64_t		 max_ms;
} config_duration_keys[] = {
	{ "history_retention",		100LL * 366 * 86400 * 1000 },
	{ "job|timeout",		366LL * 86400 * 1000 },
	{ "job|retry_delay",		86400LL * 1000 },
	{ "job|lock_timeout",		CONFIG_SERVER_MS_MAX },
	{ "job|statement_timeout",	CONFIG_SERVER_MS_MAX },
};

static const char *const config_job_keys[] = {
	"plugin", "schedule", "timezone", "timeout", "retries", "retry_delay",
	"overlap", "lock", "catch_up", "depends_on", "enabled", "lock_timeout",
	"statement_timeout",
};

static int
config_job_name_valid(const char *name)
{
	const char	*p;

	if (name == NULL || *name == '\0')
		return (0);
	for (p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' ||
		    *p == '-'))
			return (0);
	}
	return (1);
}

/*
 * The error function libconfuse calls.  Prefixes the job, filters the
 * spurious KEYSTRVAL message (recording the key's line instead) and puts
 * libconfuse's terser messages in qsched's words.
 */
static void __attribute__((format(printf, 2, 0)))
config_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	struct config_parse *cp = config_cur;
	char		 msg[QSCHED_ERRLEN], job[QSCHED_ERRLEN];
	const char	*arg;
	cfg_t		*first;
	va_list		 aq;
	int		 line = cfg != NULL ? cfg->line : 0;

	if (cp == NULL)
		return;
	if (strcmp(fmt, "no such option '%s'") == 0 && cfg != NULL &&
	    cfg->name != NULL && strcmp(cfg->name, "options") == 0) {
		va_copy(aq, ap);
		arg = va_arg(aq, const char *);
		va_end(aq);
		if (config_find_line(cp, cfg, arg) == NULL)
			config_note_line(cp, cfg, arg, line);
		return;
	}
	if (cp->failed)
		return;

	job[0] = '\0';
	if (cfg != NULL && cfg->name != NULL && strcmp(cfg->name, "job") == 0 &&
	    cfg->title != NULL)
		snprintf(job, sizeof job, "job \"%s\": ", cfg->title);

	va_copy(aq, ap);
	if (strcmp(fmt, "no such option '%s'") == 0) {
		arg = va_arg(aq, const char *);
		snprintf(msg, sizeof msg, "unknown key \"%s\"", arg);
	} else if (strcmp(fmt, "found duplicate title '%s'") == 0) {
		arg = va_arg(aq, const char *);
		first = cfg_gettsec(cfg, "job", arg);
		snprintf(msg, sizeof msg, "duplicate job name \"%s\" (first "
		    "defined on line %d)", arg,
		    first != NULL ? config_job_line(first) : 0);
	} else
		vsnprintf(msg, sizeof msg, fmt, aq);
	va_end(aq);
	config_fail(cp, line, "%s%s", job, msg);
}

/*
 * Record where KEY was set; a scalar set twice is a mistake libconfuse
 * would let pass, keeping the last value silently.
 */
static int
config_track(cfg_t *cfg, cfg_opt_t *opt)
{
	struct config_parse *cp = config_cur;
	struct config_line *l;

	if ((l = config_find_line(cp, cfg, opt->name)) == NULL) {
		config_note_line(cp, cfg, opt->name, cfg->line);
		return (0);
	}
	if (opt->flags & CFGF_LIST)
		return (0);
	cfg_error(cfg, "%s: set twice (first on line %d)", opt->name,
	    l->line);
	return (-1);
}

static const char *
config_last_str(cfg_opt_t *opt)
{
	unsigned int	 n = cfg_opt_size(opt);

	return (n == 0 ? NULL : cfg_opt_getnstr(opt, n - 1));
}

static int
config_valid_track(cfg_t *cfg, cfg_opt_t *opt)
{
	return (config_track(cfg, opt));
}

static int
config_valid_duration(cfg_t *cfg, cfg_opt_t *opt)
{
	char	 err[QSCHED_ERRLEN], a[32], b[32];
	int64_t	 ms, max = 0;

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (duration_parse(config_last_str(opt), &ms, err, sizeof err) != 0) {
		cfg_error(cfg, "%s: %s", opt->name, err);
		return (-1);
	}
	for (size_t i = 0; i < sizeof config_duration_keys /
	    sizeof config_duration_keys[0]; i++) {
		const char *k = strrchr(config_duration_keys[i].key, '|');

		if (strcmp(k != NULL ? k + 1 : config_duration_keys[i].key,
		    opt->name) == 0)
			max = config_duration_keys[i].max_ms;
	}
	if (max > 0 && ms > max) {
		cfg_error(cfg, "%s: %s is above the maximum %s%s", opt->name,
		    duration_format(ms, a, sizeof a), duration_format(max, b,
		    sizeof b), max == CONFIG_SERVER_MS_MAX ? " (the server's "
		    "limit for its timeouts)" : "");
		return (-1);
	}
	return (0);
}

/* A conninfo or URI libpq can read; its text is never echoed (a password
 * may be in it). */
static int
config_valid_database(cfg_t *cfg, cfg_opt_t *opt)
{
	PQconninfoOption *opts;
	char		*msg = NULL;
	const char	*v = config_last_str(opt);

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (v == NULL || *v == '\0')
		return (0);
	if ((opts = PQconninfoParse(v, &msg)) == NULL) {
		char	*nl;

		if (msg != NULL && (nl = strchr(msg, '\n')) != NULL)
			*nl = '\0';
		cfg_error(cfg, "database: not a libpq conninfo or URI: %s",
		    msg != NULL ? msg : "out of memory");
		PQfreemem(msg);
		return (-1);
	}
	PQconninfoFree(opts);
	return (0);
}

static int
config_valid_timezone(cfg_t *cfg, cfg_opt_t *opt)
{
	char	 err[QSCHED_ERRLEN];

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (tz_check(config_last_str(opt), err, sizeof err) != 0) {
		cfg_error(cfg, "%s: %s", opt->name, err);
		return (-1);
	}
	return (0);
}

static int
config_valid_schedule(cfg_t *cfg, cfg_opt_t *opt)
{
	struct cron	 c;
	char		 err[QSCHED_ERRLEN];

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (cron_parse(config_last_str(opt), &c, err, sizeof err) != 0) {
		cfg_error(cfg, "%s: %s", opt->name, err);
		return (-1);
	}
	return (0);
}

static int
config_valid_plugin(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*name = config_last_str(opt);

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (!plugin_name_valid(name)) {
		cfg_error(cfg, "plugin: invalid plugin name \"%s\" "
		    "(expected [a-z0-9_]+)", name);
		return (-1);
	}
	return (0);
}

static int
config_valid_overlap(cfg_t *cfg, cfg_opt_t *opt)
{
	const char	*v = config_last_str(opt);

	if (config_track(cfg, opt) != 0)
		return (-1);
	if (strcmp(v, "skip") != 0 && strcmp(v, "wait") != 0) {
		cfg_error(cfg, "overlap: \"%s\" is not one of skip|wait", v);
		return (-1);
	}
	return (0);
}

static int
config_valid_lock(cfg_t *cfg, cfg_opt_t *opt)
{
	if (config_track(cfg, opt) != 0)
		return (-1);
	if (*config_last_str(opt) == '\0') {
		cfg_error(cfg, "lock: must not be empty");
		return (-1);
	}
	return (0);
}

/* Called when a job's closing brace is read: what the job must have. */
static int
config_valid_job(cfg_t *cfg, cfg_opt_t *opt)
{
	struct config_parse *cp = config_cur;
	cfg_t		*js;
	const char	*name;
	int		 line;

	(void)cfg;
	if ((js = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1)) == NULL)
		return (0);
	name = cfg_title(js);
	line = config_job_line(js);
	if (!config_job_name_valid(name)) {
		config_fail(cp, line, "job \"%s\": invalid job name "
		    "(expected [A-Za-z0-9_.-]+)", name);
		return (-1);
	}
	if (cfg_getstr(js, "plugin") == NULL) {
		config_fail(cp, line, "job \"%s\": missing required key "
		    "\"plugin\"", name);
		return (-1);
	}
	if (cfg_getstr(js, "schedule") == NULL) {
		config_fail(cp, line, "job \"%s\": missing required key "
		    "\"schedule\" (\"@manual\" for run-by-hand only)", name);
		return (-1);
	}
	return (0);
}

static int
config_parse_int(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(value, &end, 10);
	if (*value == '\0' || *end != '\0' || errno != 0) {
		cfg_error(cfg, "%s: \"%s\" is not an integer", opt->name, value);
		return (-1);
	}
	if (n < 0) {
		cfg_error(cfg, "%s: %ld is below the minimum 0", opt->name, n);
		return (-1);
	}
	if (n > CONFIG_RETRIES_MAX) {
		cfg_error(cfg, "%s: %ld is above the maximum %d", opt->name, n,
		    CONFIG_RETRIES_MAX);
		return (-1);
	}
	*(long *)result = n;
	return (0);
}

static int
config_parse_bool(cfg_t *cfg, cfg_opt_t *opt, const char *value, void *result)
{
	bool	 b;

	if (option_parse_bool(value, &b) != 0) {
		cfg_error(cfg, "%s: \"%s\" is not a boolean (true/false, "
		    "yes/no, on/off, 1/0)", opt->name, value);
		return (-1);
	}
	*(int *)result = b ? 1 : 0;
	return (0);
}


static cfg_t *
config_init_cfg(void)
{
	cfg_t	*cfg;
	size_t	 i;
	char	 key[64];

	cfg = cfg_init(config_opts, CFGF_NONE);
	if (cfg == NULL)
		return (NULL);
	cfg_set_error_function(cfg, config_errfunc);
	for (i = 0; i < sizeof config_job_keys / sizeof config_job_keys[0];
	    i++) {
		snprintf(key, sizeof key, "job|%s", config_job_keys[i]);
		cfg_set_validate_func(cfg, key, config_valid_track);
	}
	for (i = 0; i < sizeof config_duration_keys /
	    sizeof config_duration_keys[0]; i++)
		cfg_set_validate_func(cfg, config_duration_keys[i].key,
		    config_valid_duration);
	cfg_set_validate_func(cfg, "database", config_valid_database);
	cfg_set_validate_func(cfg, "plugin_dir", config_valid_track);
	cfg_set_validate_func(cfg, "flags_file", config_valid_track);
	cfg_set_validate_func(cfg, "timezone", config_valid_timezone);
	cfg_set_validate_func(cfg, "job|timezone", config_valid_timezone);
	cfg_set_validate_func(cfg, "job|schedule", config_valid_schedule);
	cfg_set_validate_func(cfg, "job|plugin", config_valid_plugin);
	cfg_set_validate_func(cfg, "job|overlap", config_valid_overlap);
	cfg_set_validate_func(cfg, "job|lock", config_valid_lock);
	cfg_set_validate_func(cfg, "job", config_valid_job);
	return (cfg);
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	if (config_load_file(path, out, err, errlen) != 0)
		return (-1);
	if (config_bind(*out, err, errlen) != 0) {
		config_free(*out);
		*out = NULL;
		return (-1);
	}
	return (0);
}

int
config_load_file(const char *path, struct config **out, char *err,
    size_t errlen)
{
	struct config_parse cp;
	struct config	*c = NULL;
	cfg_t		*cfg = NULL;
	char		*buf;
	int		 r;
	size_t		 i;

	*out = NULL;
	memset(&cp, 0, sizeof cp);
	cp.path = path;
	cp.err = err;
	cp.errlen = errlen;
	if ((buf = config_read(&cp)) == NULL)
		return (-1);

	config_cur = &cp;
	if ((cfg = config_init_cfg()) == NULL) {
		config_fail(&cp, 0, "cannot initialise the parser");
		goto done;
	}
	r = cfg_parse_buf(cfg, buf);
	if (r != CFG_SUCCESS) {
		config_fail(&cp, 0, "cannot parse");
		goto done;
	}
	c = xcalloc(1, sizeof *c);
	c->path = xstrdup(path);
	if (config_build(&cp, cfg, c) != 0)
		goto done;
	*out = c;
	c = NULL;

done:
	config_cur = NULL;
	if (cfg != NULL)
		cfg_free(cfg);
	free(buf);
	for (i = 0; i < cp.nlines; i++)
		free(cp.lines[i].key);
	free(cp.lines);
	config_free(c);
	return (*out != NULL ? 0 : -1);
}

static void
config_free_job(struct job *job)
{
	size_t	 i;

	free(job->name);
	free(job->plugin_name);
	free(job->schedule);
	free(job->timezone);
	free(job->lock);
	for (i = 0; i < job->ndepends; i++)
		free(job->depends_on[i]);
	free(job->depends_on);
	for (i = 0; i < job->noptions; i++)
		free(job->options[i].text);
	free(job->options);
	for (i = 0; i < job->nraw; i++) {
		free(job->raw[i].key);
		free(job->raw[i].value);
	}
	free(job->raw);
}

void
config_free(struct config *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->njobs; i++)
		config_free_job(&c->jobs[i]);
	free(c->jobs);
	for (i = 0; i < c->nflags; i++) {
		free(c->flags[i].section);
		free(c->flags[i].name);
		free(c->flags[i].help);
		free(c->flags[i].declared_by);
	}
	free(c->flags);
	free(c->path);
	free(c->database);
	free(c->plugin_dir);
	free(c->flags_file);
	free(c->timezone);
	free(c);
}

struct job *
config_job(const struct config *c, const char *name)
{
	ssize_t	 i;

	if (c == NULL || name == NULL || (i = config_job_index(c, name)) < 0)
		return (NULL);
	return (&c->jobs[i]);
}

char *
config_job_names(const struct config *c)
{
	struct buf	 b = { NULL, 0, 0 };

	/* An array literal: every element quoted, " and \ escaped. */
	buf_puts(&b, "{");
	for (size_t i = 0; c != NULL && i < c->njobs; i++) {
		buf_puts(&b, i > 0 ? ",\"" : "\"");
		for (const char *p = c->jobs[i].name; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_add(&b, "\\", 1);
			buf_add(&b, p, 1);
		}
		buf_puts(&b, "\"");
	}
	buf_puts(&b, "}");
	return (buf_take(&b));
}

struct option_value *
job_option(const struct job *job, const char *name)
{
	size_t	 i;

	for (i = 0; i < job->noptions; i++) {
		if (strcmp(job->options[i].def->name, name) == 0)
			return (&job->options[i]);
	}
	return (NULL);
}

int
config_set_option(struct job *job, const char *assignment, char *err,
    size_t errlen)
{
	struct option_value *v;
	const char	*eq, *msg;
	char		 oerr[QSCHED_ERRLEN], *key;
	size_t		 klen;

	if ((eq = strchr(assignment, '=')) == NULL || eq == assignment) {
		snprintf(err, errlen, "--set %s: expected KEY=VALUE",
		    assignment);
		return (-1);
	}
	klen = (size_t)(eq - assignment);
	key = xmalloc(klen + 1);
	memcpy(key, assignment, klen);
	key[klen] = '\0';
	if ((v = job_option(job, key)) == NULL) {
		snprintf(err, errlen, "--set %s: plugin \"%s\" has no option "
		    "\"%s\"", key, job->plugin_name, key);
		free(key);
		return (-1);
	}
	if (config_option_set(job, v, eq + 1, oerr, sizeof oerr) != 0) {
		/* option_parse() names the option already. */
		msg = oerr;
		if (strncmp(msg, key, klen) == 0 && strncmp(msg + klen, ": ",
		    2) == 0)
			msg += klen + 2;
		snprintf(err, errlen, "--set %s: %s", key, msg);
		free(key);
		return (-1);
	}
	v->line = 0;
	free(key);
	return (0);
}
