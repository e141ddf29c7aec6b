"""AWS plumbing below every capability: DynamoDB items and the one error translation, paging,
stream/queue batches, the HTTP resolver and the one error-to-status mapping, settings, clock and
observability. Knows nothing of government services."""
