"""Per-request cost of the `apitally` client on a small BlackSheep app (driven in-process through its
ASGI interface), against bare BlackSheep and the official client 0.25.1 (run from its own virtual
environment): `client_overhead_asgi`'s app script, mix and figures with FRAMEWORK blacksheep (1,000
consumers as identity claims, path parameters, 1 KB JSON bodies echoed, 10 % of requests raising)."""

from bench.client_overhead_asgi import measure


def main() -> None:
    measure("_overhead_asgi_app.py", "bare BlackSheep", "blacksheep")


if __name__ == "__main__":
    main()
