"""Surveys, CVP, importance-satisfaction analysis and complaint tickets (DOMAIN §6)."""
