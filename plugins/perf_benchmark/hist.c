/*
 * hist.c - a bounded log-linear latency histogram, the way HDR histograms
 * bucket: values below 2 * HIST_SUB microseconds are counted exactly;
 * above, each power of two is split into HIST_SUB equal buckets, so a
 * bucket is never wider than 1/HIST_SUB of its lower edge.  Every sample
 * is counted, none is stored: the histogram is HIST_BUCKETS counters
 * whatever the run's length.  A percentile is the middle of the bucket
 * holding that rank (off by at most 1/(2 * HIST_SUB), 1.6%), the
 * maximum is exact.
 */
#include <config.h>

#include <string.h>

#include "bench.h"

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof *h);
}

static int
hist_index(uint64_t v)
{
	int	 k, shift;

	if (v < 2 * HIST_SUB)
		return ((int)v);
	k = 63 - __builtin_clzll(v);
	shift = k - HIST_SUB_BITS;
	if (shift > HIST_MAX_SHIFT)
		return (HIST_BUCKETS - 1);
	return (2 * HIST_SUB + (shift - 1) * HIST_SUB +
	    (int)((v >> shift) - HIST_SUB));
}

/* The middle of bucket I. */
static uint64_t
hist_value(int i)
{
	uint64_t	 m;
	int		 shift;

	if (i < 2 * HIST_SUB)
		return ((uint64_t)i);
	shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	m = (uint64_t)((i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB);
	return ((m << shift) + ((1ULL << shift) >> 1));
}

void
hist_add(struct hist *h, uint64_t us)
{
	h->bucket[hist_index(us)]++;
	h->count++;
	h->sum += us;
	if (us > h->max)
		h->max = us;
}

/* Add the samples of FROM to H. */
void
hist_merge(struct hist *h, const struct hist *from)
{
	for (int i = 0; i < HIST_BUCKETS; i++)
		h->bucket[i] += from->bucket[i];
	h->count += from->count;
	h->sum += from->sum;
	if (from->max > h->max)
		h->max = from->max;
}

/* The value at quantile P (0 < P <= 1) of the samples; 0 when empty. */
uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t	 rank, seen = 0, v;

	if (h->count == 0)
		return (0);
	rank = (uint64_t)(p * (double)h->count);
	if ((double)rank < p * (double)h->count)
		rank++;
	if (rank < 1)
		rank = 1;
	for (int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			v = hist_value(i);
			return (v > h->max ? h->max : v);
		}
	}
	return (h->max);
}
