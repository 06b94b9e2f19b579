"""HTTP ingress for other services: REST `/v1`, signed webhooks, health.

A thin layer over `starter.service.leads.LeadService` and `starter.service.content.ContentService`:
it authenticates, validates, maps answers to HTTP, and holds no business logic.
`gateway.app.create_app(settings, client)` builds the app; `python -m gateway` serves it.
"""
