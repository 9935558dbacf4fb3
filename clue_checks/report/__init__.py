"""Aggregation (means, confidence intervals, gates) and renderers (JSON, Markdown, terminal)."""
