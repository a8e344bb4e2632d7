"""Serving: the HTTP API and the accessible page, over one shared engine."""
