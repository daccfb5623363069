"""Issue 13's realistic mix for the client-overhead benchmark: a Flask app closer to a real API than
the small one, and the environs that drive it (imported by `_overhead_app.py`, in whichever virtual
environment runs it, so it uses nothing but Flask and the installed `apitally`).

1,000 consumers with names and groups (set with `set_consumer`, as the setup guide shows), 10 % of
requests raising an exception (two routes, two exception types), routes with one to three path
parameters, JSON request and response bodies from ~100 bytes to ~8 KB, query strings, and a 201 and
a 204 among the 200s.
"""

import json
import sys

from flask import Flask, Response, g, request

CONSUMERS = 1000
# What an API would look up in its own user store: a name and a group per consumer.
_PEOPLE = {
    f"key-{i:04d}": (f"Customer {i}", f"plan-{('free', 'team', 'business', 'enterprise')[i % 4]}")
    for i in range(CONSUMERS)
}


class PaymentDeclined(Exception):
    pass


def build_realistic_app(variant: str, options: dict) -> Flask:
    app = Flask(__name__)
    app.logger.disabled = True  # the 500s would print tracebacks; the printing is not what we measure
    if variant == "bare":

        def identify(key: str, name: str, group: str) -> None:
            g.consumer = key
    else:
        from apitally.flask import set_consumer

        def identify(key: str, name: str, group: str) -> None:
            set_consumer(key, name=name, group=group)

    @app.before_request
    def identify_consumer() -> None:
        key = request.headers.get("X-Api-Key")
        if key is not None and (person := _PEOPLE.get(key)) is not None:
            identify(key, *person)

    @app.get("/v1/users/<int:user_id>")
    def get_user(user_id: int) -> dict:
        return {"id": user_id, "name": f"user {user_id}", "email": f"u{user_id}@example.com", "active": True}

    @app.put("/v1/users/<int:user_id>")
    def update_user(user_id: int) -> dict:
        return {"id": user_id, **request.get_json()}

    @app.get("/v1/users/<int:user_id>/orders/<order_id>")
    def get_order(user_id: int, order_id: str) -> dict:
        lines = [{"sku": f"sku-{n}", "qty": n + 1, "price": 4.5 * (n + 1)} for n in range(user_id % 8 + 1)]
        return {"id": order_id, "user": user_id, "lines": lines, "total": sum(x["price"] for x in lines)}

    @app.get("/v1/shops/<shop>/products")
    def list_products(shop: str) -> dict:
        limit = min(int(request.args.get("limit", "20")), 50)
        page = int(request.args.get("page", "1"))
        items = [
            {"id": page * 100 + n, "shop": shop, "name": f"product {n}", "price": 9.99} for n in range(limit)
        ]
        return {"items": items, "page": page}

    @app.post("/v1/orders")
    def create_order() -> tuple[dict, int]:
        order = request.get_json()
        return {"id": "ord-1", "status": "created", "lines": order["lines"]}, 201

    @app.delete("/v1/orders/<order_id>")
    def delete_order(order_id: str) -> Response:
        return Response(status=204)

    @app.get("/v1/reports/<int:year>/<int:month>")
    def report(year: int, month: int) -> dict:
        raise KeyError(f"no report for {year}-{month:02d}")

    @app.post("/v1/payments")
    def pay() -> dict:
        request.get_json()
        raise PaymentDeclined("card declined")

    if variant != "bare":
        from apitally.flask import ApitallyMiddleware

        app.wsgi_app = ApitallyMiddleware(
            app, client_id="5b8b8a5e-9f4e-4c1e-8a55-0e5c2b1c9d7a", env="bench", **options
        )
    return app


def realistic_environs(n: int, base: dict) -> list[dict]:
    """`n` environs in a fixed order: per 20 requests, 2 raise (10 %), the rest read and write."""

    def order(lines: int) -> bytes:
        return json.dumps(
            {"lines": [{"sku": f"sku-{k}", "qty": k % 5 + 1, "note": "gift wrap"} for k in range(lines)]}
        ).encode()

    bodies = [order(k) for k in (1, 4, 16, 64)]  # ~60 B to ~3.5 KB
    profile = json.dumps({"name": "new name", "email": "new@example.com", "tags": ["a", "b", "c"]}).encode()
    payment = json.dumps({"amount": 1999, "currency": "EUR", "card": "tok_visa"}).encode()
    out = []
    for i in range(n):
        env = dict(base, HTTP_X_API_KEY=f"key-{i % CONSUMERS:04d}")
        kind, user = i % 20, 1000 + i % 5000
        body = None
        if kind < 6:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/v1/users/{user}")
        elif kind < 9:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/v1/users/{user}/orders/ord-{i % 977}")
        elif kind < 12:
            shop = ("acme", "globex", "initech")[i % 3]
            env.update(
                REQUEST_METHOD="GET",
                PATH_INFO=f"/v1/shops/{shop}/products",
                QUERY_STRING=f"page={i % 7 + 1}&limit={(5, 20, 50)[i % 3]}",
            )
        elif kind < 15:
            env.update(REQUEST_METHOD="POST", PATH_INFO="/v1/orders")
            body = bodies[i % 4]
        elif kind < 17:
            env.update(REQUEST_METHOD="PUT", PATH_INFO=f"/v1/users/{user}")
            body = profile
        elif kind < 18:
            env.update(REQUEST_METHOD="DELETE", PATH_INFO=f"/v1/orders/ord-{i % 977}")
        elif kind < 19:
            env.update(REQUEST_METHOD="GET", PATH_INFO=f"/v1/reports/2026/{i % 12 + 1}")
            env["_raises"] = True
        else:
            env.update(REQUEST_METHOD="POST", PATH_INFO="/v1/payments")
            body = payment
            env["_raises"] = True
        if body is not None:
            env.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)), _body=body)
        out.append(env)
    return out


if __name__ == "__main__":
    sys.exit("imported by _overhead_app.py")
