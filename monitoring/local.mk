# Monitoring artefacts, installed under $(pkgdatadir)/monitoring: the alert
# rules (with their promtool unit tests), a scrape configuration and a
# Grafana dashboard (qsched(8), METRICS).
monitoringdir = $(pkgdatadir)/monitoring
dist_monitoring_DATA = \
	monitoring/qsched-alerts.yml \
	monitoring/qsched-alerts.test.yml \
	monitoring/prometheus-scrape.yml \
	monitoring/qsched-dashboard.json
