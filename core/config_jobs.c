/*
 * config_jobs.c - jobs built from a parsed jobs.conf and checked as a
 * whole: each job's plugin loaded and its options { } checked against the
 * plugin's table, and depends_on resolved, without cycles.  Errors carry
 * the lines config.c recorded during the parse.
 */
#include "config_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* Load the job's plugin and check options { } against its table. */
static int
config_job_plugin(struct config_parse *cp, struct config *c, cfg_t *js,
    struct job *job)
{
	const struct qsched_option *table, *def;
	struct option_value *v;
	struct stat	 sb;
	cfg_t		*os;
	cfg_opt_t	*opt;
	char		 err[QSCHED_ERRLEN], *path;
	unsigned int	 i;
	size_t		 n;
	int		 pline, line;

	pline = config_line_of(cp, js, "plugin", job->line);
	xasprintf(&path, "%s/%s.so", c->plugin_dir, job->plugin_name);
	if (lstat(path, &sb) != 0 && errno == ENOENT) {
		config_fail(cp, pline, "job \"%s\": unknown plugin \"%s\" "
		    "(no %s.so in %s)", job->name, job->plugin_name,
		    job->plugin_name, c->plugin_dir);
		free(path);
		return (-1);
	}
	free(path);
	job->plugin = plugin_load(c->plugin_dir, job->plugin_name, err,
	    sizeof err);
	if (job->plugin == NULL) {
		config_fail(cp, pline, "job \"%s\": %s", job->name, err);
		return (-1);
	}

	table = job->plugin->desc->options;
	for (n = 0; table != NULL && table[n].name != NULL; n++)
		;
	job->noptions = n;
	job->options = xcalloc(n, sizeof *job->options);
	for (n = 0; n < job->noptions; n++) {
		v = &job->options[n];
		v->def = &table[n];
		if (table[n].default_value != NULL &&
		    option_parse(&table[n], table[n].default_value, v, err,
		    sizeof err) != 0) {
			config_fail(cp, pline, "job \"%s\": plugin \"%s\": "
			    "default of %s", job->name, job->plugin_name, err);
			return (-1);
		}
	}

	os = cfg_getsec(js, "options");
	for (i = 0; os != NULL && i < cfg_num(os); i++) {
		opt = cfg_getnopt(os, i);
		line = config_line_of(cp, os, cfg_opt_name(opt), job->line);
		if ((def = option_find(table, cfg_opt_name(opt))) == NULL) {
			config_fail(cp, line, "job \"%s\": unknown plugin "
			    "option \"%s\" (plugin \"%s\")", job->name,
			    cfg_opt_name(opt), job->plugin_name);
			return (-1);
		}
		v = &job->options[def - table];
		if (option_parse(def, cfg_opt_getnstr(opt, 0), v, err,
		    sizeof err) != 0) {
			config_fail(cp, line, "job \"%s\": options: %s",
			    job->name, err);
			return (-1);
		}
		v->line = line;
	}

	for (n = 0; n < job->noptions; n++) {
		v = &job->options[n];
		if ((v->def->flags & QSCHED_OPT_REQUIRED) && v->text == NULL) {
			config_fail(cp, job->line, "job \"%s\": missing "
			    "required plugin option \"%s\" (plugin \"%s\")",
			    job->name, v->def->name, job->plugin_name);
			return (-1);
		}
	}
	return (0);
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

	return (config_job_plugin(cp, c, js, job));
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

int
config_build(struct config_parse *cp, cfg_t *cfg, struct config *c)
{
	size_t	 i;

	c->database = xstrdup(cfg_getstr(cfg, "database"));
	c->plugin_dir = config_resolve(cp->path, cfg_getstr(cfg, "plugin_dir"));
	c->flags_file = config_resolve(cp->path, cfg_getstr(cfg, "flags_file"));
	c->timezone = xstrdup(cfg_getstr(cfg, "timezone"));
	c->history_retention_ms = config_duration(cfg, "history_retention");

	c->njobs = cfg_size(cfg, "job");
	c->jobs = xcalloc(c->njobs, sizeof *c->jobs);
	for (i = 0; i < c->njobs; i++) {
		if (config_build_job(cp, c, cfg_getnsec(cfg, "job",
		    (unsigned int)i), &c->jobs[i]) != 0)
			return (-1);
	}
	return (config_check_depends(cp, cfg, c));
}
