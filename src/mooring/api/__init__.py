"""The engine's HTTP API: routes, error bodies, OpenAPI."""
