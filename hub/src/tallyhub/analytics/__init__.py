"""Read-side queries: series, totals, percentiles from histograms, Apdex."""
