"""The callables' contract: request/result models, documents, errors, caller, slots, telemetry."""
