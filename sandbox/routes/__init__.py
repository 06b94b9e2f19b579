"""Platform API routes (HubSpot, SendGrid, Slack, WordPress, LinkedIn, GA4), link targets
for the link checker, and the `/_sandbox` admin API."""
