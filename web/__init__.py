"""The HTTP server: calendar feeds, webhooks, health and metrics."""
