"""The administrators' view of the agents: every loop on every target, and who runs them.

Read-only, and for site administrators only: an engine's error can quote command output
(account names, hosts) that is not for every member. It reads the same snapshot as
`allot agent status`, two queries whatever the number of units.
"""

from django.shortcuts import render

from allotment.agent.status import snapshot

from .common import admin_required


@admin_required
def agent_status(request):
    data = snapshot()
    failing = sum(1 for unit in data["units"] if not unit["healthy"])
    return render(request, "web/agent.html", {**data, "failing": failing})
