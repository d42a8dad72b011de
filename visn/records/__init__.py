"""ViSN's documents and our record forms: suppliers, enquiries, numbers, names, retention."""
