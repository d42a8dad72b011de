"""Platform plumbing: settings, the clock, the Firestore and Keyloop clients, call options."""
