"""Teams: creating them, invitations, members' roles and the team budget (views, forms,
urls, services).

No models: Team, Membership, Invitation and Budget stay in jobs, because Job.accept
charges a team's budget in the same transaction that moves the job.
"""
