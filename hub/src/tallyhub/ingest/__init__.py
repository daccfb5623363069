"""Ingestion: each protocol a translator into a protocol-neutral batch (batch.py); the batch writer."""
