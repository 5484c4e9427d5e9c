#!/bin/sh
# STUB: run the test program (the harness replaces this).
exec "$@"
