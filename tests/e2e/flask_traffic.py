"""The routes of apps/official_flask.py and a known mix of requests to them."""

from __future__ import annotations

import json

from tests.e2e.traffic import Call, Consumer, ServerError

ROUTES = {
    ("GET", "/items/<int:item_id>"),
    ("POST", "/items"),
    ("PUT", "/items/<int:item_id>"),
    ("DELETE", "/items/<int:item_id>"),
    ("GET", "/boom"),
    ("POST", "/orders/<order_id>/pay"),
    ("GET", "/slow"),
}

ALICE = Consumer("alice@example.com", "Alice", "Admins")
BOB = Consumer("bob-7", "Bob", "Partners")
CAROL = Consumer("carol", "Carol Ltd", "Partners")
CONSUMERS = (ALICE, BOB, CAROL)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def phase(n: int) -> list[Call]:
    """Requests of every kind, for the three consumers and for none; `n` varies ids and sizes."""
    calls: list[Call] = []
    for i, consumer in enumerate((ALICE, BOB, CAROL, None)):
        item = 10 * n + i + 1
        for repeat in range(i + 1):
            calls.append(Call("GET", f"/items/{item + repeat}", "/items/<int:item_id>", 200, consumer))
        calls.append(Call("GET", f"/items/{1000 + item}", "/items/<int:item_id>", 404, consumer))
        calls.append(Call("POST", "/items", "/items", 200, consumer, _json({"name": "n" * (50 * (i + n))})))
        calls.append(Call("POST", "/items", "/items", 422, consumer, _json({"name": ""})))
        # Over 1000 bytes, so that the 1 KB size bins beyond the first are used too.
        calls.append(
            Call(
                "PUT",
                f"/items/{item}",
                "/items/<int:item_id>",
                200,
                consumer,
                b"x" * (1500 * (i + 1) + n),
                "application/octet-stream",
            )
        )
        calls.append(Call("GET", f"/nowhere/{item}", None, 404, consumer))
    calls.append(
        Call("GET", "/boom", "/boom", 500, ALICE, error=ServerError("builtins.ValueError", "kaboom"))
    )
    calls.append(Call("GET", "/boom", "/boom", 500, None, error=ServerError("builtins.ValueError", "kaboom")))
    for consumer, order in ((BOB, "o-1"), (BOB, "o-1"), (CAROL, "o-2")):
        error = ServerError("__main__.PaymentDeclinedError", f"card declined for order {order}")
        calls.append(
            Call("POST", f"/orders/{order}/pay", "/orders/<order_id>/pay", 500, consumer, b"", error=error)
        )
    calls.append(Call("GET", "/slow", "/slow", 200, CAROL))
    return calls
