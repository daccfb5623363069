"""Tallyhub: self-hosted API monitoring and analytics."""
