"""Alerting: the rule model, the pure engine, evaluation cycles, backtests, silences and notifications."""
