/*
 * signals.c - how the daemon and qsched run take their signals: handlers
 * that only set flags (their own), every handled signal blocked except
 * while the process sleeps in ppoll() with the returned mask, so a signal
 * that arrives between two checks still interrupts the next wait; SIGPIPE
 * ignored (a worker's pipe or a socket may close).
 */
#include "qsched.h"

#include <string.h>

void
signals_setup(const int *sigs, size_t n, void (*handler)(int),
    sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t	 block;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	sa.sa_handler = handler;
	for (size_t i = 0; i < n; i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&block, sigs[i]);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	for (size_t i = 0; i < n; i++)
		sigdelset(waitmask, sigs[i]);
}
