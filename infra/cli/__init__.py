"""Command-line tools for staff (typer + rich), against the local stack or a deployed API."""
