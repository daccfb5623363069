// A small Express API instrumented with the official npm client apitally 0.25.8, for the hub's e2e tests.
// Configuration comes from the environment: APITALLY_HUB_BASE_URL, E2E_CLIENT_ID, E2E_ENV, E2E_PORT.
// The consumer of a request is taken from the X-Consumer-Id / -Name / -Group headers.
import express from "express";
import { setConsumer, useApitally } from "apitally/express";

class PaymentDeclinedError extends Error {
  constructor(message) {
    super(message);
    this.name = "PaymentDeclinedError";
  }
}

const app = express();
useApitally(app, { clientId: process.env.E2E_CLIENT_ID, env: process.env.E2E_ENV, appVersion: "1.0.0-e2e" });

app.use((req, res, next) => {
  const identifier = req.get("X-Consumer-Id");
  if (identifier) {
    setConsumer(req, { identifier, name: req.get("X-Consumer-Name"), group: req.get("X-Consumer-Group") });
  }
  next();
});

app.get("/items/:itemId", (req, res) => {
  const itemId = Number(req.params.itemId);
  if (itemId >= 1000) {
    res.status(404).json({ error: "no such item" });
    return;
  }
  res.json({ id: itemId, name: `item-${itemId}` });
});

app.post("/items", express.json(), (req, res) => {
  if (!req.body || !req.body.name) {
    // The shape express-validator answers with, which the client turns into a validation error.
    res.status(422).json({
      errors: [{ type: "field", value: "", msg: "name is required", path: "name", location: "body" }],
    });
    return;
  }
  res.json({ id: 1, name: req.body.name });
});

app.put("/items/:itemId", express.raw({ type: "*/*", limit: "1mb" }), (req, res) => {
  res.json({ id: Number(req.params.itemId), updated: req.body.length ?? 0 });
});

// Never called: the endpoint is known from startup only.
app.delete("/items/:itemId", (req, res) => {
  res.json({ deleted: Number(req.params.itemId) });
});

app.get("/boom", () => {
  throw new TypeError("kaboom");
});

app.post("/orders/:orderId/pay", (req) => {
  throw new PaymentDeclinedError(`card declined for order ${req.params.orderId}`);
});

app.get("/slow", (req, res) => {
  setTimeout(() => res.json({ slept_ms: 120 }), 120);
});

const server = app.listen(Number(process.env.E2E_PORT), "127.0.0.1");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
