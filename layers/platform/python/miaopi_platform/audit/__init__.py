"""Auditors: the decision tables' audit keys, the hash chain, its verification, replay and what-if.

`indexes` is imported by every function that writes a decision record (it names the keys the
auditors' indexes read); the rest is imported only by the audit and chain-sequencer functions.
"""
