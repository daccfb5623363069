"""Ingestion of the Hub v2 protocol: wire models, the /v2 handlers and the writes they make."""
