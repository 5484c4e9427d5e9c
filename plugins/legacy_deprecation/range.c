/*
 * range.c - heap block ranges: the archive and the purge walk a table by
 * its physical position (ctid >= (block, 0) AND ctid < (next, 0), a TID
 * range scan) rather than by id.  The ids are random uuids, so id order
 * costs a random heap read per row and needs an index on the archive;
 * block order reads each heap page once, in order, and the archive needs
 * no index at all (an index on a random uuid costs more per row than the
 * copy itself).
 *
 * A batch is a number of blocks that holds about batch_size rows, from
 * call_queue's density (the archive holds the same rows, packed at least
 * as tightly).  The table's relfilenode is kept with the pass: a rewrite
 * (VACUUM FULL, CLUSTER) moves every row, and the pass must then start
 * over.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "deprecation.h"

/* Rows per block when call_queue has never been analyzed. */
#define RANGE_DEFAULT_DENSITY	50.0

int
range_extent(const struct qsched_host *host, struct qsched_run *run,
    const char *table, struct range *r)
{
	const char	*params[1] = { table };
	PGresult	*res;
	double		 density;
	int64_t		 size = host->opt_int(run, "batch_size");

	res = host->exec(run, "measuring a table", "SELECT "
	    "pg_relation_size($1::regclass) / current_setting('block_size')"
	    "::bigint, pg_relation_filenode($1::regclass), (SELECT CASE WHEN "
	    "c.reltuples > 0 AND c.relpages > 0 THEN c.reltuples / c.relpages "
	    "END FROM pg_class AS c WHERE c.oid = 'call_queue'::regclass)",
	    1, params);
	if (res == NULL)
		return (-1);
	r->blocks = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	r->filenode = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	density = PQgetisnull(res, 0, 2) ? RANGE_DEFAULT_DENSITY :
	    strtod(PQgetvalue(res, 0, 2), NULL);
	PQclear(res);
	if (density < 1.0)
		density = 1.0;
	r->step = (int64_t)((double)size / density);
	if (r->step < 1)
		r->step = 1;
	return (0);
}

void
range_tid(char *buf, size_t len, int64_t block)
{
	snprintf(buf, len, "(%" PRId64 ",0)", block);
}
