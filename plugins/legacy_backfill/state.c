/*
 * state.c - the checkpoint of a backfill pass, and batch sizing.
 *
 * The checkpoint is one line of "key=value" words, written with every
 * batch in the batch's own transaction: where the pass is (phase, next
 * block), what bounds it (hwm, prev, the table's size and relfilenode)
 * and what it has done so far (counters, the digest of the rows it
 * wrote).  Unknown keys are ignored, so a later
 * version can add some; a missing or malformed required one makes the
 * whole value unreadable, and the plugin refuses to guess.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"

#define STATE_VERSION	1

const char *const state_types[BACKFILL_NTYPES] = {
	"unsigned_users",
	"outstanding_requests",
};

static const char *const state_phases[] = {
	"none", "copy", "proof", "done",
};

int
state_type_index(const char *queue_type)
{
	for (int i = 0; i < BACKFILL_NTYPES; i++)
		if (strcmp(queue_type, state_types[i]) == 0)
			return (i);
	return (-1);
}

const char *
state_phase_name(enum state_phase phase)
{
	if ((size_t)phase >= sizeof state_phases / sizeof state_phases[0])
		return ("?");
	return (state_phases[phase]);
}

static int
state_int(const char *v, int64_t *out)
{
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0)
		return (-1);
	*out = n;
	return (0);
}

int
state_digest_parse(const char *text, uint64_t *out)
{
	char			*end;
	unsigned long long	 n;

	if (*text < '0' || *text > '9')
		return (-1);
	errno = 0;
	n = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*out = n;
	return (0);
}

static int
state_word(struct state *st, const char *key, const char *v, int64_t *ver)
{
	int64_t	*num = NULL;

	if (strcmp(key, "v") == 0)
		return (state_int(v, ver));
	if (strcmp(key, "phase") == 0) {
		for (size_t i = 1; i < sizeof state_phases /
		    sizeof state_phases[0]; i++)
			if (strcmp(v, state_phases[i]) == 0) {
				st->phase = (enum state_phase)i;
				return (0);
			}
		return (-1);
	}
	if (strcmp(key, "digest_u") == 0)
		return (state_digest_parse(v, &st->digest[0]));
	if (strcmp(key, "digest_o") == 0)
		return (state_digest_parse(v, &st->digest[1]));
	if (strcmp(key, "pass") == 0)
		num = &st->pass;
	else if (strcmp(key, "hwm") == 0)
		num = &st->hwm;
	else if (strcmp(key, "prev") == 0)
		num = &st->prev;
	else if (strcmp(key, "block") == 0)
		num = &st->block;
	else if (strcmp(key, "blocks") == 0)
		num = &st->blocks;
	else if (strcmp(key, "filenode") == 0)
		num = &st->filenode;
	else if (strcmp(key, "total") == 0)
		num = &st->total;
	else if (strcmp(key, "done") == 0)
		num = &st->done;
	else if (strcmp(key, "batches") == 0)
		num = &st->batches;
	else if (strcmp(key, "inserted") == 0)
		num = &st->inserted;
	else if (strcmp(key, "updated") == 0)
		num = &st->updated;
	else if (strcmp(key, "unchanged") == 0)
		num = &st->unchanged;
	else if (strcmp(key, "conflicts") == 0)
		num = &st->conflicts;
	else if (strcmp(key, "size") == 0)
		num = &st->size;
	else if (strcmp(key, "ranges") == 0)
		num = &st->ranges;
	if (num == NULL)
		return (0);	/* a later version's key */
	return (state_int(v, num));
}

int
state_parse(const char *text, struct state *st)
{
	char		*copy, *word, *save = NULL, *eq;
	int64_t		 ver = -1;
	int		 rc = 0;

	memset(st, 0, sizeof *st);
	if ((copy = strdup(text)) == NULL)
		return (-1);
	for (word = strtok_r(copy, " ", &save); word != NULL && rc == 0;
	    word = strtok_r(NULL, " ", &save)) {
		if ((eq = strchr(word, '=')) == NULL) {
			rc = -1;
			break;
		}
		*eq = '\0';
		rc = state_word(st, word, eq + 1, &ver);
	}
	free(copy);
	/* A pass needs its bounds; version 1 is the only one known. */
	if (rc == 0 && (ver != STATE_VERSION || st->phase == PHASE_NONE ||
	    st->pass <= 0 || st->hwm <= 0 || st->prev > st->hwm ||
	    st->block > st->blocks))
		rc = -1;
	if (rc == -1)
		memset(st, 0, sizeof *st);
	return (rc);
}

int
state_format(const struct state *st, char *buf, size_t len)
{
	return (snprintf(buf, len, "v=%d phase=%s pass=%" PRId64 " hwm=%"
	    PRId64 " prev=%" PRId64 " block=%" PRId64 " blocks=%" PRId64
	    " filenode=%" PRId64 " total=%" PRId64 " done=%" PRId64
	    " batches=%" PRId64 " inserted=%" PRId64 " updated=%" PRId64
	    " unchanged=%" PRId64 " conflicts=%" PRId64 " digest_u=%" PRIu64
	    " digest_o=%" PRIu64 " size=%" PRId64 " ranges=%" PRId64,
	    STATE_VERSION,
	    state_phase_name(st->phase), st->pass, st->hwm, st->prev,
	    st->block, st->blocks, st->filenode, st->total, st->done,
	    st->batches, st->inserted, st->updated, st->unchanged,
	    st->conflicts, st->digest[0], st->digest[1], st->size,
	    st->ranges));
}

int64_t
state_next_size(int64_t size, int64_t elapsed_ms, int64_t target_ms)
{
	int64_t	 next;

	if (elapsed_ms < 1)
		elapsed_ms = 1;
	/*
	 * Proportional, but never more than a factor of two per batch: one
	 * batch that was fast because the cache was warm, or slow because
	 * a checkpoint was being written, must not swing the size wildly.
	 */
	if (size > INT64_MAX / (target_ms > 0 ? target_ms : 1))
		next = size * 2;
	else
		next = size * target_ms / elapsed_ms;
	if (next > size * 2)
		next = size * 2;
	if (next < size / 2)
		next = size / 2;
	if (next < BACKFILL_BATCH_MIN)
		next = BACKFILL_BATCH_MIN;
	if (next > BACKFILL_BATCH_MAX)
		next = BACKFILL_BATCH_MAX;
	return (next);
}

int64_t
state_adapt_size(int64_t size, int64_t elapsed_ms, int64_t target_ms,
    int64_t lo, int64_t hi)
{
	int64_t	 next = state_next_size(size, elapsed_ms, target_ms);

	if (hi < lo)
		hi = lo;
	if (next > hi)
		next = hi;
	if (next < lo)
		next = lo;
	return (next);
}

int64_t
state_batch_blocks(const struct state *st, int64_t size)
{
	int64_t	 left = st->blocks - st->block, n;

	/*
	 * total / blocks is the pass's average density of rows to examine.
	 * Where the rows are denser or sparser than that, the batch takes
	 * longer or shorter and state_next_size() corrects the next one; a
	 * sync pass over a few changed rows reads the whole table at once.
	 */
	if (st->total <= 0)
		n = left;
	else if (size > INT64_MAX / (st->blocks > 0 ? st->blocks : 1))
		n = left;
	else
		n = (size * st->blocks + st->total - 1) / st->total;
	if (n > BACKFILL_BLOCKS_MAX)
		n = BACKFILL_BLOCKS_MAX;
	if (n > left)
		n = left;
	if (n < 1)
		n = 1;
	return (n);
}
