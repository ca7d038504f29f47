"""Print pip constraints that pin every dependency to the floor pyproject.toml declares.

Usage: python scripts/floor_constraints.py [--except torch] > floors.txt
       pip install -e '.[torch,test]' -c floors.txt

CI's lowest-floor lane installs with these, so the floors we declare are versions the suite passes
on. A requirement without a ">=" floor is left free. ``--except`` leaves a package out (torch stays at
the CPU build the machine installs from local disk).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
FLOOR = re.compile(r"^\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*(?:[^;]*?)>=\s*([^,;\s]+)")


def floors(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    found: dict[str, str] = {}
    for requirement in requirements:
        match = FLOOR.match(requirement)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--except", dest="skip", action="append", default=[], help="a package to leave free")
    args = parser.parse_args()
    for name, version in sorted(floors(ROOT / "pyproject.toml").items()):
        if name not in {s.lower() for s in args.skip}:
            print(f"{name}=={version}")


if __name__ == "__main__":
    main()
