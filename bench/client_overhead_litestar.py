"""Per-request cost of the `apitally` client on a small Litestar app (driven in-process through its
ASGI interface), against bare Litestar and the official client 0.25.1 (run from its own virtual
environment): interleaved repetitions, medians printed, as `client_overhead_asgi` does, with its mix
(1,000 consumers, path parameters, 1 KB JSON bodies echoed, 10 % of requests raising)."""

from bench.client_overhead_asgi import measure


def main() -> None:
    measure("_overhead_litestar_app.py", "bare Litestar")


if __name__ == "__main__":
    main()
