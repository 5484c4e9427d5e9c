# Manual pages (mdoc).  Other pages are added to this list.
dist_man_MANS = man/qsched-plugins.7
