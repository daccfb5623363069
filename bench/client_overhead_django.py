"""Per-request cost of the `apitally` client on a Django Ninja API (driven in-process through Django's
WSGI handler), against bare Django and the official client 0.25.1 (run from its own virtual
environment): interleaved repetitions, medians printed, as `client_overhead_asgi` does. The mix is
issue 13's: 1,000 consumers with names and groups, path parameters, ~1 KB JSON bodies echoed, 10 %
of requests raising an exception (see `_overhead_django_app.py`)."""

from bench.client_overhead_asgi import measure


def main() -> None:
    measure("_overhead_django_app.py", "bare Django")


if __name__ == "__main__":
    main()
