"""Shared runtime pieces: settings, the Temporal client factory, telemetry."""
