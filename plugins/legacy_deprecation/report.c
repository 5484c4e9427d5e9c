/*
 * report.c - what a run leaves for the operator: per object its state and
 * every gate in the run's metrics (counters gate_<object>_<gate>: 1 holds,
 * 0 fails; notes gate_<object>_<gate>_detail with the measured numbers),
 * and the dry run's report on
 * stdout: state, every gate with its numbers, and the next step.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deprecation.h"

void
report_metrics(const struct qsched_host *host, struct qsched_run *run,
    const struct object *objs, const struct plan *plans)
{
	char	 name[96];

	for (int i = 0; i < DEP_NOBJECTS; i++) {
		const struct object *o = &objs[i];

		snprintf(name, sizeof name, "state_%s", o->name);
		host->note(run, name, ledger_states[o->state]);
		snprintf(name, sizeof name, "next_%s", o->name);
		host->note(run, name, plan_actions[plans[i].action]);
		snprintf(name, sizeof name, "why_%s", o->name);
		host->note(run, name, plans[i].why);
		snprintf(name, sizeof name, "monitoring_s_%s", o->name);
		host->counter(run, name, o->clock ? o->clock_age_s : 0);
		for (int g = 0; g < DEP_NGATES; g++) {
			const struct gate *gt = &o->gates[g];

			if (gt->detail == NULL)
				continue;
			snprintf(name, sizeof name, "gate_%s_%s", o->name,
			    gt->name);
			host->counter(run, name, gt->ok ? 1 : 0);
			snprintf(name, sizeof name, "gate_%s_%s_detail",
			    o->name, gt->name);
			host->note(run, name, gt->detail);
		}
		if (o->digest[0] != '\0') {
			snprintf(name, sizeof name, "archive_digest_%s",
			    o->name);
			host->note(run, name, o->digest);
		}
	}
}

static const char *
report_gate(const struct gate *g)
{
	if (g->evidence != NULL && strcmp(g->evidence, "null") == 0)
		return ("n/a");
	if (g->applies)
		return (g->ok ? "ok" : "FAIL");
	return (g->ok ? "(ok)" : "(fail)");
}

void
report_print(FILE *f, const struct object *objs, const struct plan *plans,
    bool legacy, int flag, const char *blocked)
{
	fprintf(f, "populate_legacy_queue = %s%s\n", legacy ? "true" :
	    "false", flag < 0 ? " (not declared: taken as true)" : "");
	for (int i = 0; i < DEP_NOBJECTS; i++) {
		const struct object *o = &objs[i];

		fprintf(f, "%s: %s", o->name, ledger_states[o->state]);
		if (o->clock)
			fprintf(f, ", monitoring clock %" PRId64 "s",
			    o->clock_age_s);
		fprintf(f, "; gates measured since %s\n", o->window);
		for (int g = 0; g < DEP_NGATES; g++) {
			const struct gate *gt = &o->gates[g];

			if (gt->detail == NULL)
				continue;
			fprintf(f, "  gate %-12s %-6s %s\n", gt->name,
			    report_gate(gt), gt->detail);
		}
		if (o->digest[0] != '\0')
			fprintf(f, "  archive: %" PRId64 " rows, digest %s\n",
			    o->archived, o->digest);
		fprintf(f, "  next run: %s (%s)\n",
		    plan_actions[plans[i].action], plans[i].why);
	}
	if (objs[DEP_TABLE].state != ST_DROPPED)
		fprintf(f, "drop of call_queue: %s\n", *blocked == '\0' ?
		    "nothing blocks it" : blocked);
	fprintf(f, "(ok/FAIL: gates this step; (ok)/(fail): measured only)\n");
}
