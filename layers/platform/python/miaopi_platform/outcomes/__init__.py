"""Outcome events (结果推送) and the applicant's inbox (主动送达)."""
