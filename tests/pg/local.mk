# tests/pg/local.mk
