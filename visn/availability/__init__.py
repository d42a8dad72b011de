"""Availability: free slots from Keyloop, their shared cache, the first available."""
