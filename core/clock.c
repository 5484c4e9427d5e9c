/*
 * clock.c - the one place qsched reads the clock, so tests can freeze it.
 */
#include "qsched.h"

#include <stdlib.h>

static int64_t	clock_fake_ms = -1;

void
clock_set_fake(int64_t wall_ms)
{
	clock_fake_ms = wall_ms;
}

int64_t
clock_now_ms(void)
{
	struct timespec	 ts;

	if (clock_fake_ms >= 0)
		return (clock_fake_ms);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

time_t
clock_now(void)
{
	return ((time_t)(clock_now_ms() / 1000));
}

int64_t
clock_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
clock_mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
}
