/*
 * queues.c - what differs between the two queues the plugin refreshes:
 * the table, the queue_reason texts and the columns only one of them has,
 * with the values the application's population rule gives them
 * (origin-app.md, "How the app populates the queues today").
 */
#include <config.h>

#include <string.h>

#include "population.h"

static const struct queue_def queues[] = {
	{
		.name = "unsigned_users",
		.table = "unsigned_users_queue",
		.live_key = "unsigned_users_queue_user_id_live_key",
		.reason = {
			"New lead - Missing signature",
			"High priority - Missing signature",
			"Medium priority - Missing signature",
			"Aged lead - Missing signature",
		},
		.extra_columns = ", signature_missing_since, signature_type",
		.extra_values = ", m.created_at, 'initial'",
		.extra_set = ", signature_missing_since = m.created_at, "
		    "signature_type = 'initial'",
		.extra_differs = " OR q.signature_missing_since IS DISTINCT "
		    "FROM r.created_at OR q.signature_type IS DISTINCT FROM "
		    "'initial'",
	},
	{
		.name = "outstanding_requests",
		.table = "outstanding_requests_queue",
		.live_key = "outstanding_requests_queue_user_id_live_key",
		.reason = {
			"New lead - Pending document requirements",
			"High priority - Outstanding requirements",
			"Medium priority - Outstanding requirements",
			"Aged lead - Outstanding requirements",
		},
		.extra_columns = ", requirement_types, total_requirements, "
		    "pending_requirements, completed_requirements, "
		    "oldest_requirement_date",
		.extra_values = ", '[\"document\"]'::jsonb, 1, 1, 0, "
		    "m.created_at",
		.extra_set = ", requirement_types = '[\"document\"]'::jsonb, "
		    "total_requirements = 1, pending_requirements = 1, "
		    "completed_requirements = 0, "
		    "oldest_requirement_date = m.created_at",
		.extra_differs = " OR q.requirement_types IS DISTINCT FROM "
		    "'[\"document\"]'::jsonb OR q.total_requirements IS "
		    "DISTINCT FROM 1 OR q.pending_requirements IS DISTINCT "
		    "FROM 1 OR q.completed_requirements IS DISTINCT FROM 0 "
		    "OR q.oldest_requirement_date IS DISTINCT FROM "
		    "r.created_at",
	},
};

const struct queue_def *
queues_find(const char *name)
{
	for (size_t i = 0; i < sizeof queues / sizeof queues[0]; i++)
		if (strcmp(queues[i].name, name) == 0)
			return (&queues[i]);
	return (NULL);
}
