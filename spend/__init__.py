"""The admin spend review: ledger totals and breakdowns, the CSV export, refunds and quota
changes (views, forms, urls, services).

No models: Charge, Budget and AuditEntry stay in jobs, because Job.accept writes the
ledger row and the budget's counters in the same transaction that moves the job.
"""
