/*
 * proof.c - the conservation proof, at the end of every pass and in a dry
 * run.
 *
 * The source is every legacy row of a copied queue type (and of the
 * statuses option) written before the pass's high-water mark: rows the
 * app wrote since belong to the next pass.  Per queue type it checks:
 *
 *   source = copied + conflicts   every source row either has a copy in
 *                                 its table (and no conflict row) or a
 *                                 row in qsched.backfill_conflicts;
 *                                 none is neither
 *   digest(source) = digest(copies)
 *                                 the sum mod 2^64 of a 64-bit hash of
 *                                 each copied row's mapped columns,
 *                                 computed from call_queue (through the
 *                                 mapping) and from the copies
 *
 * A mismatch names the queue type and the first id range that differs,
 * found by narrowing: the same digest query grouped by the next hex digit
 * of the id, descending into the first group that differs, until a group
 * holds only a few rows.
 *
 * That the source is untouched is checked where it could happen: every
 * batch transaction verifies, before it commits, that it wrote no
 * call_queue row and holds nothing stronger than ACCESS SHARE on it.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"

#define PROOF_NARROW_ROWS	16	/* stop narrowing at this many rows */
#define PROOF_COPIED		"k.legacy_id IS NULL AND x.copied"

struct proof_row {
	char		 bucket;
	struct proof_type v;
};

/*
 * Parameters: $1 hwm, $2 statuses (text[] or NULL); when narrowing, $3
 * and $4 the id range, $5 the hex digit to group by (1-32), $6 the type.
 */
static char *
proof_sql(const struct qsched_host *host, struct qsched_run *run,
    const struct query_rels *rels, bool narrow)
{
	char	*sql = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = query_open(host, run, &sql, &len)) == NULL)
		return (NULL);
	fprintf(f, "SELECT x.queue_type, %s, count(*)::text, "
	    "count(*) FILTER (WHERE " PROOF_COPIED ")::text, "
	    "count(*) FILTER (WHERE k.legacy_id IS NOT NULL)::text, "
	    "count(*) FILTER (WHERE k.legacy_id IS NULL AND NOT x.copied)"
	    "::text, ", narrow ?
	    "substr(replace(x.id::text, '-', ''), $5::integer, 1)" : "''");
	query_digest(f, "x.src_rec", PROOF_COPIED);
	fputs(", ", f);
	query_digest(f, "x.dst_rec", PROOF_COPIED);
	fputs(" FROM (SELECT y.id, y.queue_type, ", f);
	query_row(f, "y", NULL);
	fputs(" AS src_rec, CASE WHEN eu.id IS NOT NULL THEN ", f);
	query_row(f, "eu", "unsigned_users");
	fputs(" WHEN eo.id IS NOT NULL THEN ", f);
	query_row(f, "eo", "outstanding_requests");
	fputs(" END AS dst_rec, eu.id IS NOT NULL OR eo.id IS NOT NULL AS "
	    "copied FROM (SELECT ", f);
	query_mapped(f);
	fprintf(f, " FROM call_queue AS c "
	    "LEFT JOIN user_call_scores AS u ON u.user_id = c.user_id "
	    "LEFT JOIN %s AS p ON p.legacy_id = c.id "
	    "WHERE c.queue_type IN ('unsigned_users', 'outstanding_requests') "
	    "AND ($2::text[] IS NULL OR c.status = ANY ($2::text[]))%s",
	    rels->positions, narrow ? " AND c.queue_type = $6::text AND "
	    "c.id >= $3::uuid AND c.id <= $4::uuid" : "");
	query_scope(f, "c", 1, 0);
	fprintf(f, ") AS y "
	    "LEFT JOIN unsigned_users_queue AS eu ON y.queue_type = "
	    "'unsigned_users' AND eu.id = y.id "
	    "LEFT JOIN outstanding_requests_queue AS eo ON y.queue_type = "
	    "'outstanding_requests' AND eo.id = y.id) AS x "
	    "LEFT JOIN %s AS k ON k.legacy_id = x.id "
	    "GROUP BY 1, 2", rels->conflicts);
	return (query_finish(host, run, f, &sql));
}

static int
proof_parse(PGresult *res, int r, struct proof_row *row)
{
	int64_t	*n[4] = { &row->v.source, &row->v.copied, &row->v.conflicts,
	    &row->v.missing };

	row->bucket = *PQgetvalue(res, r, 1);
	for (int i = 0; i < 4; i++)
		*n[i] = strtoll(PQgetvalue(res, r, 2 + i), NULL, 10);
	if (state_digest_parse(PQgetvalue(res, r, 6),
	    &row->v.source_digest) == -1 ||
	    state_digest_parse(PQgetvalue(res, r, 7),
	    &row->v.copy_digest) == -1)
		return (-1);
	return (0);
}

static bool
proof_bad(const struct proof_type *v)
{
	return (v->missing != 0 || v->source != v->copied + v->conflicts ||
	    v->source_digest != v->copy_digest);
}

/* 32 hex digits: PREFIX, then FILL; as a uuid. */
static void
proof_uuid(const char *prefix, char fill, char out[BACKFILL_UUID_LEN + 1])
{
	size_t	 n = strlen(prefix), o = 0;

	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = i < n ? prefix[i] : fill;
	}
	out[o] = '\0';
}

/*
 * The first id range of TYPE whose rows differ, by hex digit: into LO
 * and HI, with the number of source rows in it.
 */
static int
proof_narrow(const struct qsched_host *host, struct qsched_run *run,
    const struct query_rels *rels, const char *const *base, int type,
    char lo[BACKFILL_UUID_LEN + 1], char hi[BACKFILL_UUID_LEN + 1],
    int64_t *rows)
{
	static const char digits[] = "0123456789abcdef";
	char		 prefix[33] = "", pos[8], *sql;
	const char	*params[6] = { base[0], base[1], lo, hi, pos,
	    state_types[type] };
	struct proof_row row, found;
	PGresult	*res;
	size_t		 k;
	bool		 any;

	if ((sql = proof_sql(host, run, rels, true)) == NULL)
		return (-1);
	for (k = 0; k < 32; k++) {
		proof_uuid(prefix, '0', lo);
		proof_uuid(prefix, 'f', hi);
		snprintf(pos, sizeof pos, "%zu", k + 1);
		res = query_exec(host, run, "narrowing the proof", sql, 6,
		    NULL, params);
		if (res == NULL) {
			free(sql);
			return (-1);
		}
		any = false;
		for (const char *d = digits; *d != '\0' && !any; d++)
			for (int r = 0; r < PQntuples(res); r++) {
				if (proof_parse(res, r, &row) == -1 ||
				    row.bucket != *d || !proof_bad(&row.v))
					continue;
				found = row;
				any = true;
				break;
			}
		PQclear(res);
		if (!any)
			break;	/* changed meanwhile: report what we have */
		prefix[k] = found.bucket;
		prefix[k + 1] = '\0';
		*rows = found.v.source;
		if (found.v.source <= PROOF_NARROW_ROWS)
			break;
	}
	free(sql);
	proof_uuid(prefix, '0', lo);
	proof_uuid(prefix, 'f', hi);
	return (0);
}

int
proof_run(const struct qsched_host *host, struct qsched_run *run,
    const struct query_rels *rels, int64_t hwm, struct proof *pr)
{
	char		 h[24], statuses[128], lo[BACKFILL_UUID_LEN + 1];
	char		 hi[BACKFILL_UUID_LEN + 1], *sql;
	const char	*params[2] = { h, NULL };
	struct proof_row row;
	PGresult	*res;
	int64_t		 rows;
	int		 i;

	memset(pr, 0, sizeof *pr);
	if (query_statuses(host, run, statuses, sizeof statuses) == -1)
		return (-1);
	params[1] = statuses[0] != '\0' ? statuses : NULL;
	snprintf(h, sizeof h, "%" PRId64, hwm);
	if ((sql = proof_sql(host, run, rels, false)) == NULL)
		return (-1);
	res = query_exec(host, run, "proving the copy", sql, 2, NULL, params);
	free(sql);
	if (res == NULL)
		return (-1);
	for (int r = 0; r < PQntuples(res); r++) {
		if ((i = state_type_index(PQgetvalue(res, r, 0))) < 0 ||
		    proof_parse(res, r, &row) == -1) {
			PQclear(res);
			host->message(run, "proof: unexpected result row");
			return (-1);
		}
		pr->t[i] = row.v;
	}
	PQclear(res);

	pr->ok = true;
	snprintf(pr->why, sizeof pr->why, "ok");
	for (i = 0; i < BACKFILL_NTYPES; i++) {
		const struct proof_type *v = &pr->t[i];

		if (!proof_bad(v))
			continue;
		pr->ok = false;
		if (v->copied + v->conflicts == 0) {
			/* Nothing to compare yet (a dry run before the first
			 * pass): no range is more wrong than another. */
			snprintf(pr->why, sizeof pr->why, "%s: none of %" PRId64
			    " source rows copied yet", state_types[i],
			    v->source);
			break;
		}
		rows = v->source;
		if (proof_narrow(host, run, rels, params, i, lo, hi, &rows) ==
		    -1)
			return (-1);
		snprintf(pr->why, sizeof pr->why, "%s: %" PRId64 " source "
		    "rows, %" PRId64 " copied + %" PRId64 " conflicts "
		    "(%" PRId64 " neither); source digest %016" PRIx64 ", "
		    "copies %016" PRIx64 "; first differing id range %s .. %s "
		    "(%" PRId64 " source rows)", state_types[i], v->source,
		    v->copied, v->conflicts, v->missing, v->source_digest,
		    v->copy_digest, lo, hi, rows);
		break;
	}
	return (0);
}

void
proof_print(const struct proof *pr, FILE *f)
{
	fprintf(f, "  %-22s %10s %10s %10s %10s  %s\n", "proof", "source",
	    "copied", "conflicts", "neither", "digest (source = copies)");
	for (int i = 0; i < BACKFILL_NTYPES; i++) {
		const struct proof_type *v = &pr->t[i];

		fprintf(f, "  %-22s %10" PRId64 " %10" PRId64 " %10" PRId64
		    " %10" PRId64 "  %016" PRIx64 " %s %016" PRIx64 "\n",
		    state_types[i], v->source, v->copied, v->conflicts,
		    v->missing, v->source_digest, v->source_digest ==
		    v->copy_digest ? "=" : "<>", v->copy_digest);
	}
	fprintf(f, "  %s\n", pr->ok ? "proof holds" : pr->why);
}
