"""Talking to served LLMs: value types, the HTTP client, discovery."""
