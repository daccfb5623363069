"""A known mix of requests for the e2e apps, which share one API spelled in each framework's syntax."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

from tests.e2e.traffic import Call, Consumer, ServerError, ValidationError

ALICE = Consumer("alice@example.com", "Alice", "Admins")
BOB = Consumer("bob-7", "Bob", "Partners")
CAROL = Consumer("carol", "Carol Ltd", "Partners")
CONSUMERS = (ALICE, BOB, CAROL)


@dataclasses.dataclass(frozen=True)
class Api:
    """How one app spells its routes and what its failing routes raise."""

    item: str  # GET/PUT/DELETE one item (DELETE is never called: known from startup only)
    items: str  # POST: create an item; 422 without a name
    pay: str  # POST: always raises pay_error(order)
    boom: str  # GET: always raises boom_error
    slow: str  # GET: answers after 120 ms
    boom_error: ServerError
    pay_error: Callable[[str], ServerError]
    # The validation error the client reports for a 422 of `items` (None: the client reports none).
    name_missing: ValidationError | None = None
    validation_status: int = 422  # Litestar answers a validation error with 400

    def routes(self) -> set[tuple[str, str]]:
        return {
            ("GET", self.item),
            ("PUT", self.item),
            ("DELETE", self.item),
            ("POST", self.items),
            ("POST", self.pay),
            ("GET", self.boom),
            ("GET", self.slow),
        }


FLASK = Api(
    item="/items/<int:item_id>",
    items="/items",
    pay="/orders/<order_id>/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("builtins.ValueError", "kaboom"),
    pay_error=lambda order: ServerError("__main__.PaymentDeclinedError", f"card declined for order {order}"),
)

FASTAPI = Api(
    item="/items/{item_id}",
    items="/items",
    pay="/orders/{order_id}/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("builtins.ValueError", "kaboom"),
    pay_error=lambda order: ServerError("__main__.PaymentDeclinedError", f"card declined for order {order}"),
    name_missing=ValidationError(
        ("body", "name"), "String should have at least 1 character", "string_too_short"
    ),
)

# Django Ninja, mounted at the root of the URL conf (the body parameter is named `item`).
DJANGO = Api(
    item="/items/{item_id}",
    items="/items",
    pay="/orders/{order_id}/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("builtins.ValueError", "kaboom"),
    pay_error=lambda order: ServerError(
        "ours_django.PaymentDeclinedError", f"card declined for order {order}"
    ),
    name_missing=ValidationError(
        ("body", "item", "name"), "String should have at least 1 character", "string_too_short"
    ),
)

# Litestar: path parameters carry their type; validation errors are 400s whose body has no type.
LITESTAR = Api(
    item="/items/{item_id:int}",
    items="/items",
    pay="/orders/{order_id:str}/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("builtins.ValueError", "kaboom"),
    pay_error=lambda order: ServerError("__main__.PaymentDeclinedError", f"card declined for order {order}"),
    name_missing=ValidationError(("body", "name"), "String should have at least 1 character", ""),
    validation_status=400,
)

# BlackSheep: the app answers its own 422 (the client reports no validation errors, as the official one).
BLACKSHEEP = Api(
    item="/items/{item_id}",
    items="/items",
    pay="/orders/{order_id}/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("builtins.ValueError", "kaboom"),
    pay_error=lambda order: ServerError("__main__.PaymentDeclinedError", f"card declined for order {order}"),
)

EXPRESS = Api(
    item="/items/:itemId",
    items="/items",
    pay="/orders/:orderId/pay",
    boom="/boom",
    slow="/slow",
    boom_error=ServerError("TypeError", "kaboom"),
    pay_error=lambda order: ServerError("PaymentDeclinedError", f"card declined for order {order}"),
    name_missing=ValidationError(("body", "name"), "name is required", "field"),
)


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def phase(api: Api, n: int) -> list[Call]:
    """Requests of every kind, for the three consumers and for none; `n` varies ids and sizes."""
    calls: list[Call] = []
    for i, consumer in enumerate((ALICE, BOB, CAROL, None)):
        item = 10 * n + i + 1
        for repeat in range(i + 1):
            calls.append(Call("GET", f"/items/{item + repeat}", api.item, 200, consumer))
        calls.append(Call("GET", f"/items/{1000 + item}", api.item, 404, consumer))
        calls.append(Call("POST", "/items", api.items, 200, consumer, _json({"name": "n" * (50 * (i + n))})))
        calls.append(
            Call(
                "POST",
                "/items",
                api.items,
                api.validation_status,
                consumer,
                _json({"name": ""}),
                validation=api.name_missing,
            )
        )
        # Over 1000 bytes, so that the 1 KB size bins beyond the first are used too.
        body = b"x" * (1500 * (i + 1) + n)
        calls.append(Call("PUT", f"/items/{item}", api.item, 200, consumer, body, "application/octet-stream"))
        calls.append(Call("GET", f"/nowhere/{item}", None, 404, consumer))  # matches no route
    calls.append(Call("GET", "/boom", api.boom, 500, ALICE, error=api.boom_error))
    calls.append(Call("GET", "/boom", api.boom, 500, None, error=api.boom_error))
    for consumer, order in ((BOB, "o-1"), (BOB, "o-1"), (CAROL, "o-2")):
        calls.append(
            Call("POST", f"/orders/{order}/pay", api.pay, 500, consumer, b"", error=api.pay_error(order))
        )
    calls.append(Call("GET", "/slow", api.slow, 200, CAROL))
    return calls
