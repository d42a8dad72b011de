"""Alerts as code: log-based metrics and alert policies, and `python -m ops.apply`."""
