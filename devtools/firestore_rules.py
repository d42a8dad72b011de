"""Put our rules block into a complete rules file: the merge the deploy guide describes.

`python -m devtools.firestore_rules VISN.rules > merged.rules` prints ViSN's rules with our
block (firestore/live-diary.rules) as the first thing inside
`match /databases/{database}/documents { ... }`. The rules tests and `make dev` use the same
function on a stand-in for ViSN's file (devtools/visn-standin.rules).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAGMENT = ROOT / "firestore" / "live-diary.rules"
STANDIN = ROOT / "devtools" / "visn-standin.rules"
BEGIN = "// ---- begin: Keyloop live diary add-on (firestore/live-diary.rules) ----"
END = "// ---- end: Keyloop live diary add-on ----"
_DOCUMENTS = re.compile(r"^([ \t]*)match\s+/databases/\{\w+\}/documents\s*\{[ \t]*$", re.M)


class MergeError(ValueError):
    pass


def assemble(visn_rules: str, fragment: str) -> str:
    """ViSN's rules with our block inside its documents match, once, marked by comments."""
    if BEGIN in visn_rules:
        raise MergeError("the rules already hold our block: replace it, do not add it twice")
    found = list(_DOCUMENTS.finditer(visn_rules))
    if len(found) != 1:
        raise MergeError(
            "expected exactly one `match /databases/{database}/documents {` line, "
            f"found {len(found)}"
        )
    match = found[0]
    indent = match.group(1) + "  "
    body = [BEGIN, *fragment.strip("\n").splitlines(), END]
    block = "\n".join(indent + line if line else line for line in body)
    return visn_rules[: match.end()] + "\n" + block + "\n" + visn_rules[match.end() :]


def assembled_standin() -> str:
    return assemble(STANDIN.read_text(), FRAGMENT.read_text())


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m devtools.firestore_rules VISN_RULES_FILE", file=sys.stderr)
        return 2
    try:
        print(assemble(Path(argv[0]).read_text(), FRAGMENT.read_text()), end="")
    except (OSError, MergeError) as exc:
        print(f"cannot merge: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
