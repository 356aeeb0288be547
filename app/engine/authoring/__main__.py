"""Write the bundled packs' FHIR JSON: ``python -m app.engine.authoring [folder]``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from app.engine.authoring import pediatric
from app.engine.authoring.activities import activities
from app.engine.authoring.cardiometabolic import blood_pressure, diabetes
from app.engine.authoring.library import library, value_sets
from app.engine.authoring.lipids_kidney import cholesterol, kidney
from app.engine.authoring.patient_texts import with_patient_texts
from app.engine.authoring.prevention import depression, obesity, pharmacogenomics, screening, tobacco
from app.engine.authoring.priorities import with_priorities, with_visit_settings
from app.engine.packs import DEFAULT_PACK_DIR, PEDIATRIC_PACK_DIR, TABLES_FOLDER, pack_files


def resources() -> dict[str, dict[str, Any]]:
    """file name -> resource, in the order areas are evaluated (file names sort in that order)."""
    plans = [with_priorities(plan) for plan in (diabetes(), blood_pressure(), cholesterol(), kidney(), obesity(),
                                                tobacco(), depression(), screening(), pharmacogenomics())]
    out = {"Library-primary-care-data.json": with_patient_texts(with_visit_settings(library()))}
    for index, plan in enumerate(plans, start=1):
        out[f"PlanDefinition-{index:02d}-{plan['action'][0]['id']}.json"] = with_patient_texts(plan)
    for activity in activities():
        out[f"ActivityDefinition-{activity['url'].rsplit('/', 1)[1]}.json"] = with_patient_texts(activity)
    for url, value_set in sorted(value_sets().items()):
        out[f"valuesets/ValueSet-{url.rstrip('/').rsplit('/', 1)[1]}.json"] = value_set
    return out


def render(resource: dict[str, Any]) -> str:
    """Stable JSON text for a resource."""
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    """Rewrite the pack folders from the sources: ``[folder]`` the primary-care pack only (into ``folder``);
    without one, both bundled packs (``packs/primary-care``, ``packs/pediatric``)."""
    if argv:
        return write(Path(argv[0]), resources())
    write(DEFAULT_PACK_DIR, resources())
    return write(PEDIATRIC_PACK_DIR, pediatric.resources())


def write(folder: Path, wanted: dict[str, dict[str, Any]]) -> int:
    """Write a pack's generated files, removing generated files no longer wanted (tables included)."""
    folder.mkdir(parents=True, exist_ok=True)
    generated = [*pack_files(folder), *(folder / TABLES_FOLDER).glob("*.json")]
    for stale in generated:  # the conformance review and cohort mapping are reviewed data, not generated
        if stale.relative_to(folder).as_posix() not in wanted:
            stale.unlink()
    for name, resource in wanted.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(render(resource), encoding="utf-8")
    print(f"wrote {len(wanted)} resources to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
