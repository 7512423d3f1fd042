"""The JSON API for scripts (views, schema, serializers, the tokens page) and the outgoing
webhooks that announce finished jobs.

Its models (ApiToken, WebhookEndpoint, WebhookDelivery) came from the jobs app with
state-only migrations and keep their tables' names.
A finished job reaches the webhooks through the jobs.models.job_finished signal, so jobs
never imports this package.
"""
