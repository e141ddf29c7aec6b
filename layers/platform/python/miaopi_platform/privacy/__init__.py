"""Personal data: keyed hashes for lookups (never the value itself) and masking for display."""
