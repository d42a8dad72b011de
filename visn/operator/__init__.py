"""Operator commands (python -m visn): attention items, supplier onboarding, Keyloop check."""
