"""The Python API other services use to drive mops: capture leads, submit content, launch
campaigns, decide approvals, read state. Everything validates input before it talks to
Temporal; the CLI and the gateway are thin layers over these classes."""
