// An Express API instrumented with the plain OpenTelemetry SDK for Node (no Apitally client), for the
// hub's end-to-end tests. It exports traces (and, with E2E_METRICS=1, metrics) as OTLP/protobuf to
// OTEL_EXPORTER_OTLP_ENDPOINT with OTEL_EXPORTER_OTLP_HEADERS, as any OpenTelemetry app would.
// CommonJS: the instrumentations patch `http` and `express` through require hooks.
"use strict";

const { NodeSDK } = require("@opentelemetry/sdk-node");
const { OTLPTraceExporter } = require("@opentelemetry/exporter-trace-otlp-proto");
const { OTLPMetricExporter } = require("@opentelemetry/exporter-metrics-otlp-proto");
const { PeriodicExportingMetricReader } = require("@opentelemetry/sdk-metrics");
const { HttpInstrumentation } = require("@opentelemetry/instrumentation-http");
const { ExpressInstrumentation } = require("@opentelemetry/instrumentation-express");

const withMetrics = process.env.E2E_METRICS === "1";
const sdk = new NodeSDK({
  traceExporter: new OTLPTraceExporter(),
  metricReader: withMetrics
    ? new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis: 1000 })
    : undefined,
  instrumentations: [
    new HttpInstrumentation({
      // The consumer, as an app names its authenticated user.
      requestHook: (span, request) => {
        const consumer = request.headers && request.headers["x-consumer"];
        if (consumer) span.setAttribute("enduser.id", consumer);
      },
      headersToSpanAttributes: { server: { requestHeaders: ["x-consumer"], responseHeaders: ["content-type"] } },
    }),
    new ExpressInstrumentation(),
  ],
});
sdk.start();

const { trace } = require("@opentelemetry/api");
const express = require("express");

const tracer = trace.getTracer("e2e-shop");
const app = express();
app.use(express.json());

app.get("/items/:id", (req, res) => {
  const id = Number(req.params.id);
  // A child span of the request, with an attribute: the test finds it in the request's trace.
  tracer.startActiveSpan("load item", (span) => {
    span.setAttribute("item.id", id);
    span.end();
  });
  if (id > 100) return res.status(404).json({ detail: "not found" });
  res.json({ id, name: `item ${id}` });
});

app.post("/items", (req, res) => {
  res.status(201).json({ id: 1, ...req.body });
});

app.get("/boom", () => {
  throw new Error("kaboom");
});

const server = app.listen(Number(process.env.E2E_PORT), "127.0.0.1");

function stop() {
  // Shutting the SDK down flushes the last spans and metrics before the process exits.
  server.close(() => sdk.shutdown().finally(() => process.exit(0)));
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
