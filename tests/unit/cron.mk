# tests/unit/cron.mk
