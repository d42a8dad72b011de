"""Keeping ViSN's enquiries in step with changes the dealer makes in the DMS.

- `events`: the `keyloopEvents` endpoint: Keyloop's CloudEvents, authenticated, de-duplicated,
  each only a hint to look again at one repair order;
- `visn.records.dms_view` (shared with the saga's cancel): what the DMS says about an
  appointment now (its repair order, read back, and what it means);
- `applying`: what that means for the enquiry, in one conditional write with a history entry;
- `polling`: `syncDmsBookings` and `python -m visn sync`, the safety net for dropped events.
"""
