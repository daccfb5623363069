"""Framework-neutral core of the client: configuration, aggregation, request logging and delivery."""
