"""ViSN's side of live diary bookings: suppliers' Keyloop config, enquiries, the booking saga."""
