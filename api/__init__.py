"""The JSON API for scripts (views, schema, serializers, the tokens page) and the outgoing
webhooks that announce finished jobs.

Its models (ApiToken, WebhookEndpoint, WebhookDelivery) are still in jobs/models_api.py.
A finished job reaches the webhooks through the jobs.models.job_finished signal, so jobs
never imports this package.
"""
