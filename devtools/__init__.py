"""Local development and test tooling (never deployed): emulators, the sandbox, the stack."""
