"""Django REST framework: the Django integration (`apitally.django`), under the official client's
other name for it."""

from apitally.django import ApitallyConsumer, ApitallyMiddleware, RequestLoggingConfig

__all__ = ["ApitallyConsumer", "ApitallyMiddleware", "RequestLoggingConfig"]
