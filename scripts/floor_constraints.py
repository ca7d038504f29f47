"""Print pip constraints that pin every dependency to the floor pyproject.toml declares.

Usage: python scripts/floor_constraints.py [--except torch] > floors.txt
       pip install -e '.[torch,test]' -c floors.txt
       python scripts/floor_constraints.py --check   # every installed dependency is at its floor

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


def check(found: dict[str, str], free: set[str]) -> int:
    """Print each installed dependency against its floor; 1 if one is not at it (or, when free, below it)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.version import Version

    bad = 0
    for name, floor in sorted(found.items()):
        try:
            installed = version(name)
        except PackageNotFoundError:
            continue  # an extra this environment does not install
        at_floor = Version(installed) == Version(floor)
        ok = Version(installed) >= Version(floor) if name in free else at_floor
        bad += not ok
        print(f"{name:<18} floor {floor:<22} installed {installed:<22} {'ok' if ok else 'NOT AT THE FLOOR'}")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--except", dest="skip", action="append", default=[], help="a package to leave free")
    parser.add_argument("--check", action="store_true", help="compare what is installed with the floors")
    args = parser.parse_args()
    found = floors(ROOT / "pyproject.toml")
    free = {s.lower() for s in args.skip}
    if args.check:
        return check(found, free | {"torch"})
    for name, version in sorted(found.items()):
        if name not in free:
            print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
