"""Signed e-certificates (电子证照): issued from the decisions stream, verified by anyone."""
