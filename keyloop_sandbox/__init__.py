"""A stateful stand-in for Keyloop's Apigee-fronted DMS API, for tests, benchmarks and dev.

`start_sandbox()` serves it on a free port in a background thread; `python -m keyloop_sandbox`
serves it in the foreground. Control endpoints under `/_sandbox/` script faults, latency, token
expiry and stores (see `control.py` and `faults.py`).
"""

from .config import SandboxConfig, StoreConfig
from .server import SandboxServer, start_sandbox

__all__ = ["SandboxConfig", "SandboxServer", "StoreConfig", "start_sandbox"]
