"""Who may call and how much: App Check and CORS, and the quotas."""
