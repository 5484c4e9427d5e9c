/* main.c - command line entry point (skeleton). */
#include "qsched.h"

#include <stdio.h>

int
main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_init();
	fprintf(stderr, "usage: qsched [-c FILE] [-v|-q] COMMAND\n");
	return (QSCHED_EXIT_USAGE);
}
