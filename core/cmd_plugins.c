/*
 * cmd_plugins.c - qsched plugins: what is installed in plugin_dir, what
 * each plugin takes, and why any was refused.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>

static const char *
plugins_type(enum qsched_opt_type t)
{
	switch (t) {
	case QSCHED_OPT_STRING:
		return ("string");
	case QSCHED_OPT_INT:
		return ("int");
	case QSCHED_OPT_BOOL:
		return ("bool");
	case QSCHED_OPT_DURATION:
		return ("duration");
	}
	return ("?");
}

static void
plugins_show(const char *name, struct plugin *p, const char *err, void *arg)
{
	const struct qsched_option *o;
	int		*refused = arg;

	if (p == NULL) {
		printf("%s: refused: %s\n\n", name, err);
		(*refused)++;
		return;
	}
	printf("%s %s - %s\n", p->desc->name, p->desc->version ?
	    p->desc->version : "", p->desc->summary ? p->desc->summary : "");
	for (o = p->desc->options; o != NULL && o->name != NULL; o++) {
		printf("  %-20s %-8s ", o->name, plugins_type(o->type));
		if (o->flags & QSCHED_OPT_REQUIRED)
			printf("%-18s", "required");
		else if (o->default_value != NULL)
			printf("default %-10s", o->default_value);
		else
			printf("%-18s", "optional");
		if (o->choices != NULL)
			printf(" one of %s.", o->choices);
		printf(" %s\n", o->help ? o->help : "");
	}
	printf("\n");
}

int
cmd_plugins(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	const char	*dir = NULL;
	int		 ch, refused = 0, rc;

	while ((ch = getopt(ctx->argc, ctx->argv, "d:")) != -1) {
		if (ch != 'd') {
			fprintf(stderr, "usage: qsched plugins [-d DIR]\n");
			return (QSCHED_EXIT_USAGE);
		}
		dir = optarg;
	}
	if (dir == NULL) {
		if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
			return (rc);
		dir = cfg->plugin_dir;
	}
	printf("# plugins in %s\n\n", dir);
	if (plugin_scan(dir, plugins_show, &refused) == -1) {
		fprintf(stderr, "qsched: cannot read plugin directory %s\n",
		    dir);
		config_free(cfg);
		return (QSCHED_EXIT_USAGE);
	}
	config_free(cfg);
	return (refused ? QSCHED_EXIT_USAGE : QSCHED_EXIT_OK);
}
