"""The one error the analytics layer raises: a query parameter that cannot be answered."""

from __future__ import annotations


class InvalidParameter(ValueError):
    """A query parameter is malformed or out of range; `param` names it for the 422 response."""

    def __init__(self, param: str, message: str, value: object = None) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
        self.value = value
