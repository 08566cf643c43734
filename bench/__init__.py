"""The command line and the reports: tables, plots and terminal pictures."""
