"""Data the family-adapter tests share: the shipped config.json files and their catalog rows."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from vlmplanner.families import list_families

ROOT = Path(__file__).resolve().parents[2]
HF_CONFIGS = ROOT / "catalog" / "hf_configs"
#: every family with an adapter (the registry is the one list)
FAMILIES = tuple(list_families())


def shipped_vlm_configs() -> list[tuple[str, dict[str, Any]]]:
    """(checkpoint, config.json) of every shipped config whose model_type has a built-in adapter."""
    found = []
    for path in sorted(HF_CONFIGS.glob("*/*/config.json")):
        config = json.loads(path.read_text())
        if config.get("model_type") in FAMILIES:
            found.append((f"{path.parent.parent.name}/{path.parent.name}", config))
    return found


def catalog_rows() -> dict[str, dict[str, str]]:
    with (ROOT / "catalog" / "models.csv").open(newline="") as handle:
        return {row["checkpoint"]: row for row in csv.DictReader(handle)}


SHIPPED = shipped_vlm_configs()


def changed(config: dict[str, Any], part: str | None, **changes: Any) -> dict[str, Any]:
    """A deep copy of ``config`` with keys of its top level (``part`` None) or of one sub-config
    set to new values; a value None removes the key."""
    import copy

    config = copy.deepcopy(config)
    target = config if part is None else config[part]
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return config


def assert_components_agree(analytic: Any, traced: Any, *, skip: tuple[str, ...] = ()) -> None:
    """Per component (all but ``skip``), the analytic and traced counts within 0.5%: the bar every
    family's full-size count meets."""
    import pytest

    from vlmplanner.profiling import COMPONENTS

    assert set(traced.flops) == set(COMPONENTS)
    for component in COMPONENTS:
        if component not in skip:
            assert traced.flops[component] == pytest.approx(analytic.flops[component], rel=0.005, abs=1.0), component
