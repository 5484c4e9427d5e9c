/*
 * config_bind.c - a parsed configuration meets its plugins: each job's
 * plugin is loaded (dlopen, init), options { } are checked against the
 * plugin's table and its validate(), and the feature flags the plugins
 * declare join those jobs.conf declares.  Only the commands that run or
 * check plugins bind (check, run, daemon, plugins, flags): reading the
 * file alone runs no plugin code.
 */
#include "qsched.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int	config_bind_fail(const struct config *, int, char *, size_t,
		    const char *, ...) __attribute__((format(printf, 5, 6)));

/* "FILE:LINE: message", as the parser words its errors. */
static int
config_bind_fail(const struct config *c, int line, char *err, size_t errlen,
    const char *fmt, ...)
{
	char	 msg[QSCHED_ERRLEN];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s:%d: %s", c->path, line, msg);
	else
		snprintf(err, errlen, "%s: %s", c->path, msg);
	return (-1);
}

int
config_option_set(struct job *job, struct option_value *v, const char *text,
    char *err, size_t errlen)
{
	const struct qsched_plugin *d = job->plugin->desc;
	char		 verr[QSCHED_ERRLEN];

	if (option_parse(v->def, text, v, err, errlen) != 0)
		return (-1);
	if (!QSCHED_PLUGIN_HAS(d, validate) || d->validate == NULL)
		return (0);
	verr[0] = '\0';
	if (d->validate(&host_services, v->def->name, text, verr,
	    sizeof verr) != 0) {
		snprintf(err, errlen, "%s: \"%s\": %s", v->def->name, text,
		    verr[0] != '\0' ? verr : "refused by the plugin");
		return (-1);
	}
	return (0);
}

/* Load the job's plugin and check options { } against its table. */
static int
config_bind_job(struct config *c, struct job *job, char *err, size_t errlen)
{
	const struct qsched_option *table, *def;
	struct option_value *v;
	struct stat	 sb;
	char		 e[QSCHED_ERRLEN], *path;
	size_t		 n;

	xasprintf(&path, "%s/%s.so", c->plugin_dir, job->plugin_name);
	if (lstat(path, &sb) != 0 && errno == ENOENT) {
		free(path);
		return (config_bind_fail(c, job->plugin_line, err, errlen,
		    "job \"%s\": unknown plugin \"%s\" (no %s.so in %s)",
		    job->name, job->plugin_name, job->plugin_name,
		    c->plugin_dir));
	}
	free(path);
	if ((job->plugin = plugin_load(c->plugin_dir, job->plugin_name, e,
	    sizeof e)) == NULL)
		return (config_bind_fail(c, job->plugin_line, err, errlen,
		    "job \"%s\": %s", job->name, e));

	table = job->plugin->desc->options;
	for (n = 0; table != NULL && table[n].name != NULL; n++)
		;
	job->noptions = n;
	job->options = xcalloc(n > 0 ? n : 1, sizeof *job->options);
	for (n = 0; n < job->noptions; n++) {
		v = &job->options[n];
		v->def = &table[n];
		if (table[n].default_value != NULL &&
		    option_parse(&table[n], table[n].default_value, v, e,
		    sizeof e) != 0)
			return (config_bind_fail(c, job->plugin_line, err,
			    errlen, "job \"%s\": plugin \"%s\": default of %s",
			    job->name, job->plugin_name, e));
	}
	for (size_t i = 0; i < job->nraw; i++) {
		const struct raw_option *ro = &job->raw[i];

		if ((def = option_find(table, ro->key)) == NULL)
			return (config_bind_fail(c, ro->line, err, errlen,
			    "job \"%s\": unknown plugin option \"%s\" (plugin "
			    "\"%s\")", job->name, ro->key, job->plugin_name));
		v = &job->options[def - table];
		if (config_option_set(job, v, ro->value, e, sizeof e) != 0)
			return (config_bind_fail(c, ro->line, err, errlen,
			    "job \"%s\": options: %s", job->name, e));
		v->line = ro->line;
	}
	for (n = 0; n < job->noptions; n++) {
		v = &job->options[n];
		if ((v->def->flags & QSCHED_OPT_REQUIRED) && v->text == NULL)
			return (config_bind_fail(c, job->line, err, errlen,
			    "job \"%s\": missing required plugin option \"%s\" "
			    "(plugin \"%s\")", job->name, v->def->name,
			    job->plugin_name));
	}
	return (0);
}

/* Add a plugin's declared flags; a second declaration must agree. */
static int
config_bind_flags(struct config *c, const struct job *job, char *err,
    size_t errlen)
{
	const struct qsched_plugin *d = job->plugin->desc;
	const struct qsched_flag *f;
	struct flag_decl *have;
	char		*by;

	if (!QSCHED_PLUGIN_HAS(d, flags) || d->flags == NULL)
		return (0);
	for (f = d->flags; f->name != NULL; f++) {
		if (!plugin_name_valid(f->name) || f->section == NULL ||
		    !plugin_name_valid(f->section))
			return (config_bind_fail(c, job->plugin_line, err,
			    errlen, "job \"%s\": plugin \"%s\" declares an "
			    "invalid flag \"%s\" (section and name: "
			    "[a-z0-9_]+)", job->name, job->plugin_name,
			    f->name));
		xasprintf(&by, "plugin %s", job->plugin_name);
		if ((have = flags_find_decl(c, f->name)) != NULL) {
			int bad = strcmp(have->section, f->section) != 0 ||
			    have->default_value != f->default_value;

			if (bad) {
				config_bind_fail(c, job->plugin_line, err,
				    errlen, "job \"%s\": flag \"%s\": %s "
				    "declares [%s] default %s, %s declared "
				    "[%s] default %s", job->name, f->name, by,
				    f->section, f->default_value ? "true" :
				    "false", have->declared_by, have->section,
				    have->default_value ? "true" : "false");
				free(by);
				return (-1);
			}
			if (strstr(have->declared_by, by) == NULL) {
				char	*both;

				xasprintf(&both, "%s, %s", have->declared_by,
				    by);
				free(have->declared_by);
				have->declared_by = both;
			}
			free(by);
			continue;
		}
		if (flags_declare(c, f->section, f->name, f->default_value,
		    f->help, by, err, errlen) != 0) {
			free(by);
			return (-1);
		}
		free(by);
	}
	return (0);
}

int
config_bind(struct config *c, char *err, size_t errlen)
{
	if (c->bound)
		return (0);
	for (size_t i = 0; i < c->njobs; i++)
		if (config_bind_job(c, &c->jobs[i], err, errlen) != 0 ||
		    config_bind_flags(c, &c->jobs[i], err, errlen) != 0)
			return (-1);
	c->bound = true;
	return (0);
}
