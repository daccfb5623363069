"""The JSON read API under /api/v1 (token auth), documented by its OpenAPI schema."""
