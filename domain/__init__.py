"""Pure business rules and their pydantic models: no I/O (except reading journey YAML), no Temporal."""
