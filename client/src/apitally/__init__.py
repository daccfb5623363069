"""Client library for Tallyhub and other Hub v2 hubs."""
