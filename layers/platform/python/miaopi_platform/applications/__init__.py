"""Applying: the submit flow (validate, gather evidence, decide, one atomic write), what it
writes, and the applicant's own applications."""
