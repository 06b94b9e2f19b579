"""Platform API routes (HubSpot, SendGrid, Slack) and the `/_sandbox` admin API."""
