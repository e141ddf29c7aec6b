"""Routers, one module per function; the catalogue also combines them into the OpenAPI document."""
