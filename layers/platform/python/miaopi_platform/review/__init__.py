"""Manual review (人工审核): the workflow's content, the review tasks, the reviewer's decision and
the reviewers' API."""
