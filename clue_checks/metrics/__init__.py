"""Metrics: small pure modules. Per-sample metrics score one pair; batched ones a whole task."""
