# tests/lib/local.mk
