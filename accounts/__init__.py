"""Accounts: sign-up (open, or through an invitation), email verification, the account
page and deleting an account (views, forms, urls, services).

No models: an account is Django's User; what it owns (jobs, budget, memberships) lives in
jobs.
"""
