"""HTTP ingress for other services: REST `/v1`, signed webhooks, health.

A thin layer over `starter.leads.LeadService` and `starter.content.ContentService`:
it authenticates, validates, maps answers to HTTP, and holds no business logic.
`gateway.app.create_app(settings, client)` builds the app; `python -m gateway` serves it.
"""
