"""Departments' data in (数据共享, issue 15): each source delivers JSONL files to its prefix of the
intake bucket; the loader checks every line against what the services read of that source,
stores the valid ones idempotently and reports the rest by line number, never by value."""
