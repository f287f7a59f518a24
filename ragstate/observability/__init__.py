"""Observability: one logging setup (:mod:`.logs`), ragstate's metrics through the Temporal SDK's
meter (:mod:`.metrics`) and OpenTelemetry traces (:mod:`.telemetry`).

Each module is imported by its full path; this package imports nothing, so that importing one
piece never loads the others."""
