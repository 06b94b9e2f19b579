"""Signed webhooks in (`/webhooks/...`): no API key, the signature is the credential.

Each handler checks, before anything starts: the signature (forged → 401), the
timestamp (stale → 401), that this exact signed request was not seen before
(replayed → 409); the body limit (413) is enforced by the app's middleware. Event ids
are remembered too, so a redelivered event has one effect (the lead workflow also
dedupes engagement events by id).
"""
