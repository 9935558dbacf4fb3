"""A run against another: paired statistics, the [compare] gates, the table and forest plot of several runs."""
