"""ViSN's documents and our record forms: suppliers, enquiries, numbers, names, retention,
and what the DMS's own record of a booking (its repair order) says."""
