"""The dimensions usage can be grouped by: one table for the explorer and the report.

Both read the same fact columns and show the same names, so a dimension added here is
added to both (where it makes sense: the explorer has no "charge" axis, and the report
reads one pool so has no "resource pool" axis). The two spell their parameter differently
(the explorer's form fields `project_level`, the report's option `--group-by
project-level`), which their public interfaces already promise.
"""

from __future__ import annotations

from typing import NamedTuple


class Dimension(NamedTuple):
    key: str  # the explorer's group_by, and a report row's field for the group
    option: str  # the report's --group-by / group_by spelling
    column: str  # the UsageFacts column grouped on
    model: str | None  # "app.Model" whose name is shown, None when the value is shown
    name_field: str | None
    heading: str
    in_explorer: bool = True
    in_report: bool = True


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("project", "project", "submitted_project_id", "projects.Project", "pid", "Project"),
    Dimension(
        "charged_project", "charged-project", "charged_project_id", "projects.Project", "pid",
        "Charged project", in_explorer=False,
    ),
    Dimension("person", "person", "person_id", "people.Person", "username", "Person"),
    Dimension("institute", "institute", "institute_id", "projects.Project", "pid", "Institute"),
    Dimension("machine", "machine", "machine_id", "resources.Machine", "name", "Machine"),
    Dimension(
        "resource_pool", "resource-pool", "resource_pool_id", "resources.ResourcePool", "name",
        "Resource pool", in_report=False,
    ),
    Dimension(
        "career_level", "career-level", "career_level_id", "people.CareerLevel", "name",
        "Career level",
    ),
    Dimension(
        "project_level", "project-level", "project_level_id", "projects.ProjectLevel", "name",
        "Project level",
    ),
    Dimension("charge", "charge", "charge", None, None, "Charge", in_explorer=False),
)  # fmt: skip


def explorer_groups() -> dict[str, tuple[str, str | None, str | None, str]]:
    """group_by -> (column, model, name field, heading), in the explorer's order."""
    return {
        d.key: (d.column, d.model, d.name_field, d.heading) for d in DIMENSIONS if d.in_explorer
    }


def report_groups() -> dict[str, tuple[str, str | None, str | None, str]]:
    """--group-by -> (column, model, name field, the row's key), in the report's order."""
    return {d.option: (d.column, d.model, d.name_field, d.key) for d in DIMENSIONS if d.in_report}
