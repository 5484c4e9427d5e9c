/*
 * plan.c - what the next step of each retired object is, from its state,
 * the flag, its gates and the monitoring clock.  The same decision serves
 * a run (which then does it) and a dry run (which prints it).
 *
 * The queue types: dual_write -> frozen when populate_legacy_queue is
 * false; frozen -> monitoring when the gates hold (population healthy,
 * agents on the new queues, the dual-write consistent at the freeze);
 * monitoring -> archived after monitoring_period with every gate held,
 * a failed gate resetting the clock; archived -> purged while the gates
 * hold.  A failed gate while frozen also resets the clock, which is
 * where the window of the gates starts: a failed run, or a row written,
 * long ago stops counting once it is before the window.  The flag back to true before purged is a rollback.
 *
 * The table follows the types: frozen once both are, monitoring once
 * both are and nothing else depends on it, archived (the other queue
 * types' rows) after its own monitoring_period once both types are
 * purged, purged, and dropped only when purge_drop_ready finds nothing
 * in the way.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deprecation.h"

const char *const plan_actions[] = {
	"nothing", "freeze", "roll back to dual_write", "start monitoring",
	"reset the clock", "archive", "purge",
	"DROP TABLE call_queue",
};

static void
plan_age(char *buf, size_t len, int64_t s)
{
	if (s >= 86400)
		snprintf(buf, len, "%" PRId64 "d%" PRId64 "h", s / 86400,
		    s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, len, "%" PRId64 "h%" PRId64 "m", s / 3600,
		    s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRId64 "s", s);
}

static void
plan_monitoring(const struct object *obj, int64_t period_s, struct plan *pl)
{
	char	 age[32], per[32];

	plan_age(age, sizeof age, obj->clock_age_s);
	plan_age(per, sizeof per, period_s);
	if (obj->clock_age_s >= period_s) {
		pl->action = ACT_ARCHIVE;
		snprintf(pl->why, sizeof pl->why, "monitored %s of %s with "
		    "every gate holding", age, per);
	} else
		snprintf(pl->why, sizeof pl->why, "monitoring: %s of %s, "
		    "gates hold", age, per);
}

static void
plan_type(const struct object *obj, bool legacy, int64_t period_s,
    struct plan *pl)
{
	bool	 hold = gates_hold(obj, pl->why, sizeof pl->why);

	if (legacy && obj->state >= ST_FROZEN && obj->state < ST_PURGED) {
		pl->action = ACT_ROLLBACK;
		snprintf(pl->why, sizeof pl->why, "populate_legacy_queue is "
		    "true again");
		return;
	}
	switch (obj->state) {
	case ST_DUAL_WRITE:
		if (!legacy) {
			pl->action = ACT_FREEZE;
			snprintf(pl->why, sizeof pl->why,
			    "populate_legacy_queue is false");
		} else if (hold)
			snprintf(pl->why, sizeof pl->why, "dual-write, "
			    "consistent");
		break;
	case ST_FROZEN:
		if (hold) {
			pl->action = ACT_MONITOR;
			snprintf(pl->why, sizeof pl->why, "gates hold");
		} else
			pl->action = ACT_RESET_CLOCK;
		break;
	case ST_MONITORING:
		if (!hold)
			pl->action = ACT_RESET_CLOCK;
		else
			plan_monitoring(obj, period_s, pl);
		break;
	case ST_ARCHIVED:
		if (hold) {
			pl->action = ACT_PURGE;
			snprintf(pl->why, sizeof pl->why, "archive proved, "
			    "gates hold");
		}
		break;
	default:
		snprintf(pl->why, sizeof pl->why, legacy ?
		    "purged, but populate_legacy_queue is true: run with "
		    "--set action=restore to roll back" : "purged; what is "
		    "left in call_queue is referenced");
		break;
	}
}

static void
plan_table(const struct object *objs, bool legacy, int64_t period_s,
    const char *blocked, struct plan *pl)
{
	const struct object *t = &objs[DEP_TABLE];
	enum dep_state	 least = objs[0].state < objs[1].state ?
	    objs[0].state : objs[1].state;
	bool		 hold = gates_hold(t, pl->why, sizeof pl->why);

	if (legacy && t->state >= ST_FROZEN && t->state < ST_PURGED) {
		pl->action = ACT_ROLLBACK;
		snprintf(pl->why, sizeof pl->why, "populate_legacy_queue is "
		    "true again");
		return;
	}
	switch (t->state) {
	case ST_DUAL_WRITE:
		if (!legacy && least >= ST_FROZEN) {
			pl->action = ACT_FREEZE;
			snprintf(pl->why, sizeof pl->why, "both queue types "
			    "are frozen");
		} else
			snprintf(pl->why, sizeof pl->why, "dual-write");
		break;
	case ST_FROZEN:
		if (!hold) {
			pl->action = ACT_RESET_CLOCK;
			break;
		}
		if (least >= ST_MONITORING) {
			pl->action = ACT_MONITOR;
			snprintf(pl->why, sizeof pl->why, "both queue types "
			    "are monitored and nothing else depends on it");
		} else
			snprintf(pl->why, sizeof pl->why, "waiting for both "
			    "queue types to be monitored");
		break;
	case ST_MONITORING:
		if (!hold)
			pl->action = ACT_RESET_CLOCK;
		else if (least < ST_PURGED)
			snprintf(pl->why, sizeof pl->why, "waiting for both "
			    "queue types to be purged");
		else
			plan_monitoring(t, period_s, pl);
		break;
	case ST_ARCHIVED:
		if (hold) {
			pl->action = ACT_PURGE;
			snprintf(pl->why, sizeof pl->why, "archive proved, "
			    "nothing depends on it");
		}
		break;
	case ST_PURGED:
		if (*blocked == '\0') {
			pl->action = ACT_DROP;
			snprintf(pl->why, sizeof pl->why, "every gate and the "
			    "archive proof hold, allow_drop is true and "
			    "confirm is the archive digest");
		} else
			snprintf(pl->why, sizeof pl->why, "drop blocked: %s",
			    blocked);
		break;
	default:
		snprintf(pl->why, sizeof pl->why, "dropped");
		break;
	}
}

void
plan_object(const struct object *objs, int index, bool legacy,
    int64_t period_s, const char *blocked, struct plan *pl)
{
	pl->action = ACT_NONE;
	pl->why[0] = '\0';
	if (index == DEP_TABLE)
		plan_table(objs, legacy, period_s, blocked, pl);
	else
		plan_type(&objs[index], legacy, period_s, pl);
}

enum dep_state
plan_target(const struct object *obj, const struct plan *pl)
{
	switch (pl->action) {
	case ACT_FREEZE:
		return (ST_FROZEN);
	case ACT_ROLLBACK:
		return (ST_DUAL_WRITE);
	case ACT_MONITOR:
		return (ST_MONITORING);
	case ACT_ARCHIVE:
		return (ST_ARCHIVED);
	case ACT_PURGE:
		return (ST_PURGED);
	case ACT_DROP:
		return (ST_DROPPED);
	default:
		return (obj->state);
	}
}
