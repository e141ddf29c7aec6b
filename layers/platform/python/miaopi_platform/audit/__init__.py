"""Auditors: the audit API, the hash chain's sequencer and verification, replay and what-if.

The index keys every writer puts on a record live in `records.indexes`; this package reads them.
"""
