"""Django Ninja: the Django integration (`apitally.django`) under the official client's other name."""

from apitally.django import ApitallyConsumer, ApitallyMiddleware, RequestLoggingConfig

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig"]
