"""`loadtui report` and what it draws on: tables, HTML, CSV, HDR logs, merging."""
