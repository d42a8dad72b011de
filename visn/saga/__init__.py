"""The booking saga: operations, shared steps, create, rearrange, cancel, undo, reconcile."""
