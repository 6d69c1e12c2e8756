"""Orchestration: jobs that glue collectors to storage, their schedule, and the control actions."""
