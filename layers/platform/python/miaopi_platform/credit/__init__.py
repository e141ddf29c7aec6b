"""The credit list (信用黑名单): entries with validity and history, repair, and the admins' API."""
