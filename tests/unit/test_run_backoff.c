/*
 * test_backoff.c - tests/unit_backoff: the wait before retry N is
 * retry_delay * 2^(N-1), capped at an hour, with "equal jitter": somewhere
 * in its upper half, and not always the same.
 */
#include "qsched.h"

#include <stdlib.h>

#include <criterion/criterion.h>

Test(backoff, doubles_within_the_upper_half_and_jitters)
{
	struct job	 job = { .retry_delay_ms = 1000 };

	for (int attempt = 1; attempt <= 6; attempt++) {
		int64_t	 full = 1000LL << (attempt - 1), lo = full, hi = 0;

		for (int i = 0; i < 200; i++) {
			int64_t	 d = run_retry_delay_ms(&job, attempt);

			cr_assert_geq(d, full / 2, "attempt %d: %lld < %lld",
			    attempt, (long long)d, (long long)full / 2);
			cr_assert_leq(d, full, "attempt %d: %lld > %lld",
			    attempt, (long long)d, (long long)full);
			lo = d < lo ? d : lo;
			hi = d > hi ? d : hi;
		}
		cr_assert_gt(hi, lo, "attempt %d: no jitter", attempt);
	}
}

Test(backoff, is_capped_at_an_hour)
{
	struct job	 job = { .retry_delay_ms = 30 * 60 * 1000 };

	for (int i = 0; i < 100; i++)
		cr_assert_leq(run_retry_delay_ms(&job, 40), 3600 * 1000);
}

Test(backoff, zero_delay_stays_zero)
{
	struct job	 job = { .retry_delay_ms = 0 };

	cr_assert_eq(run_retry_delay_ms(&job, 3), 0);
}
