"""The Google Cloud CLI's Firestore emulator (Java 17 is enough; firebase-tools' needs 21)."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from .processes import ProcessGroup, StartError, free_port, http_ok

START_TIMEOUT = 60.0


class FirestoreEmulator:
    def __init__(
        self, project: str, host: str, port: int, log_dir: Path, rules: Path | None = None
    ) -> None:
        self.project = project
        self.host = host
        self.port = port
        self.address = f"{host}:{port}"
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise StartError("gcloud is not on PATH: the Firestore emulator cannot start")
        argv = [gcloud, "emulators", "firestore", "start", f"--host-port={self.address}"]
        if rules is not None:
            argv.append(f"--rules={rules}")
        self._group = ProcessGroup(
            "firestore-emulator", [*argv, "--quiet"], log_path=log_dir / "firestore-emulator.log"
        )
        try:
            self._group.wait_until(lambda: http_ok(f"http://{self.address}/"), START_TIMEOUT)
        except StartError:
            self._group.stop()  # never leave a half-started java behind
            raise

    @classmethod
    def start(
        cls,
        project: str,
        log_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        rules: Path | None = None,
    ) -> FirestoreEmulator:
        return cls(project, host, port or free_port(host), log_dir, rules)

    def wipe(self) -> None:
        """Delete every document (the emulator's own reset endpoint)."""
        url = (
            f"http://{self.address}/emulator/v1/projects/{self.project}"
            "/databases/(default)/documents"
        )
        request = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def stop(self) -> None:
        self._group.stop()

    @property
    def running(self) -> bool:
        return self._group.process.poll() is None
