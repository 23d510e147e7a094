"""The service's data model and its converter."""
