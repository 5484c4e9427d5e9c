/*
 * config_jobs.c - jobs built from a parsed jobs.conf and checked as a
 * whole: depends_on resolved, without cycles.  Errors carry the lines
 * config.c recorded during the parse.  Plugins are not loaded here:
 * options { } are kept as written for config_bind.c.
 */
#include "config_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative paths in jobs.conf are relative to the file, not the cwd. */
static char *
config_resolve(const char *cfgpath, const char *p)
{
	const char	*slash;
	char		*out;

	if (*p == '\0' || *p == '/')
		return (xstrdup(p));
	if ((slash = strrchr(cfgpath, '/')) == NULL)
		xasprintf(&out, "./%s", p);
	else if (slash == cfgpath)
		xasprintf(&out, "/%s", p);
	else
		xasprintf(&out, "%.*s/%s", (int)(slash - cfgpath), cfgpath, p);
	return (out);
}

static int64_t
config_duration(cfg_t *sec, const char *key)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 ms = 0;

	/* Checked while parsing; a default is known to be good. */
	(void)duration_parse(cfg_getstr(sec, key), &ms, err, sizeof err);
	return (ms);
}

/* Keep options { } as written, with lines: config_bind() checks them
 * against the plugin's table. */
static void
config_keep_options(struct config_parse *cp, cfg_t *js, struct job *job)
{
	cfg_t		*os = cfg_getsec(js, "options");
	cfg_opt_t	*opt;
	unsigned int	 i, n = os != NULL ? cfg_num(os) : 0;

	job->raw = xcalloc(n > 0 ? n : 1, sizeof *job->raw);
	for (i = 0; i < n; i++) {
		opt = cfg_getnopt(os, i);
		job->raw[i].key = xstrdup(cfg_opt_name(opt));
		job->raw[i].value = xstrdup(cfg_opt_getnstr(opt, 0));
		job->raw[i].line = config_line_of(cp, os, cfg_opt_name(opt),
		    job->line);
	}
	job->nraw = n;
}

static int
config_build_job(struct config_parse *cp, struct config *c, cfg_t *js,
    struct job *job)
{
	struct cron	 cron;
	const char	*s;
	char		 err[QSCHED_ERRLEN];
	unsigned int	 i;

	job->name = xstrdup(cfg_title(js));
	job->line = config_job_line(js);
	job->plugin_name = xstrdup(cfg_getstr(js, "plugin"));
	job->schedule = xstrdup(cfg_getstr(js, "schedule"));
	if (cron_parse(job->schedule, &cron, err, sizeof err) != 0) {
		config_fail(cp, config_line_of(cp, js, "schedule", job->line),
		    "job \"%s\": schedule: %s", job->name, err);
		return (-1);
	}
	job->cron = cron;
	s = cfg_getstr(js, "timezone");
	job->timezone = xstrdup(s != NULL ? s : c->timezone);
	job->timeout_ms = config_duration(js, "timeout");
	job->retries = (int)cfg_getint(js, "retries");
	job->retry_delay_ms = config_duration(js, "retry_delay");
	job->overlap = strcmp(cfg_getstr(js, "overlap"), "wait") == 0 ?
	    OVERLAP_WAIT : OVERLAP_SKIP;
	s = cfg_getstr(js, "lock");
	job->lock = xstrdup(s != NULL ? s : job->name);
	job->catch_up = cfg_getbool(js, "catch_up") == cfg_true;
	job->enabled = cfg_getbool(js, "enabled") == cfg_true;
	job->lock_timeout_ms = config_duration(js, "lock_timeout");
	job->statement_timeout_ms = config_duration(js, "statement_timeout");

	job->ndepends = cfg_size(js, "depends_on");
	job->depends_on = xcalloc(job->ndepends, sizeof *job->depends_on);
	for (i = 0; i < job->ndepends; i++)
		job->depends_on[i] = xstrdup(cfg_getnstr(js, "depends_on", i));

	job->plugin_line = config_line_of(cp, js, "plugin", job->line);
	config_keep_options(cp, js, job);
	return (0);
}

ssize_t
config_job_index(const struct config *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->njobs; i++) {
		if (strcmp(c->jobs[i].name, name) == 0)
			return ((ssize_t)i);
	}
	return (-1);
}

/*
 * Depth-first search from job I; STATE: 0 unseen, 1 on the stack, 2 done.
 * On a back edge, name the cycle from where it starts.
 */
static int
config_cycle_visit(struct config_parse *cp, cfg_t *cfg,
    const struct config *c, size_t i, int *state, size_t *stack,
    size_t depth)
{
	char		 msg[QSCHED_ERRLEN];
	const struct job *job = &c->jobs[i];
	size_t		 d, k, len;
	ssize_t		 j;

	state[i] = 1;
	stack[depth] = i;
	for (d = 0; d < job->ndepends; d++) {
		j = config_job_index(c, job->depends_on[d]);
		if (j < 0 || state[j] == 2)
			continue;
		if (state[j] == 0) {
			if (config_cycle_visit(cp, cfg, c, (size_t)j, state,
			    stack, depth + 1) != 0)
				return (-1);
			continue;
		}
		for (k = 0; stack[k] != (size_t)j; k++)
			;
		msg[0] = '\0';
		for (len = 0; k <= depth; k++) {
			snprintf(msg + len, sizeof msg - len, "%s -> ",
			    c->jobs[stack[k]].name);
			len = strlen(msg);
		}
		snprintf(msg + len, sizeof msg - len, "%s",
		    c->jobs[j].name);
		config_fail(cp, config_line_of(cp,
		    cfg_getnsec(cfg, "job", (unsigned int)j), "depends_on",
		    c->jobs[j].line), "job \"%s\": depends_on cycle: %s",
		    c->jobs[j].name, msg);
		return (-1);
	}
	state[i] = 2;
	return (0);
}

static int
config_check_depends(struct config_parse *cp, cfg_t *cfg,
    const struct config *c)
{
	const struct job *job;
	size_t		 i, d, *stack;
	int		*state, r = 0;

	for (i = 0; i < c->njobs; i++) {
		job = &c->jobs[i];
		for (d = 0; d < job->ndepends; d++) {
			if (strcmp(job->depends_on[d], job->name) == 0) {
				config_fail(cp, config_line_of(cp,
				    cfg_getnsec(cfg, "job", (unsigned int)i),
				    "depends_on", job->line), "job \"%s\": "
				    "depends_on names the job itself",
				    job->name);
				return (-1);
			}
			if (config_job_index(c, job->depends_on[d]) < 0) {
				config_fail(cp, config_line_of(cp,
				    cfg_getnsec(cfg, "job", (unsigned int)i),
				    "depends_on", job->line), "job \"%s\": "
				    "depends_on: unknown job \"%s\"",
				    job->name, job->depends_on[d]);
				return (-1);
			}
		}
	}

	state = xcalloc(c->njobs, sizeof *state);
	stack = xcalloc(c->njobs, sizeof *stack);
	for (i = 0; i < c->njobs && r == 0; i++) {
		if (state[i] == 0)
			r = config_cycle_visit(cp, cfg, c, i, state, stack, 0);
	}
	free(stack);
	free(state);
	return (r);
}

/* flag "name" { section = "..." default = false help = "..." } */
static int
config_build_flags(struct config_parse *cp, cfg_t *cfg, struct config *c)
{
	cfg_t		*fs;
	const char	*name, *section;
	char		 by[64];
	int		 line;

	for (unsigned int i = 0; i < cfg_size(cfg, "flag"); i++) {
		fs = cfg_getnsec(cfg, "flag", i);
		name = cfg_title(fs);
		section = cfg_getstr(fs, "section");
		line = config_job_line(fs);
		if (!plugin_name_valid(name)) {
			config_fail(cp, line, "flag \"%s\": invalid flag name "
			    "(expected [a-z0-9_]+)", name);
			return (-1);
		}
		if (section == NULL || !plugin_name_valid(section)) {
			config_fail(cp, line, "flag \"%s\": %s", name,
			    section == NULL ? "missing required key \"section\""
			    : "section: expected [a-z0-9_]+");
			return (-1);
		}
		snprintf(by, sizeof by, "jobs.conf:%d", line);
		if (flags_declare(c, section, name, cfg_getbool(fs, "default")
		    == cfg_true, cfg_getstr(fs, "help"), by, cp->err,
		    cp->errlen) != 0) {
			cp->failed = true;
			return (-1);
		}
	}
	return (0);
}

int
config_build(struct config_parse *cp, cfg_t *cfg, struct config *c)
{
	size_t	 i;

	c->database = xstrdup(cfg_getstr(cfg, "database"));
	c->plugin_dir = config_resolve(cp->path, cfg_getstr(cfg, "plugin_dir"));
	c->flags_file = config_resolve(cp->path, cfg_getstr(cfg, "flags_file"));
	c->timezone = xstrdup(cfg_getstr(cfg, "timezone"));
	c->history_retention_ms = config_duration(cfg, "history_retention");

	if (config_build_flags(cp, cfg, c) != 0)
		return (-1);
	c->njobs = cfg_size(cfg, "job");
	c->jobs = xcalloc(c->njobs, sizeof *c->jobs);
	for (i = 0; i < c->njobs; i++) {
		if (config_build_job(cp, c, cfg_getnsec(cfg, "job",
		    (unsigned int)i), &c->jobs[i]) != 0)
			return (-1);
	}
	return (config_check_depends(cp, cfg, c));
}
