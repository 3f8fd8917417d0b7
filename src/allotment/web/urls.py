"""The self-service portal's pages (the workflows live in allotment.applications)."""

from django.urls import path

from .views import (
    admin_tools,
    agent,
    auth,
    burst,
    dashboard,
    explorer,
    inventory,
    jobs,
    people,
    projects,
)

app_name = "web"
urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("sign-in/", auth.SignInView.as_view(), name="login"),
    path("sign-out/", auth.SignOutView.as_view(), name="logout"),
    path("projects/", projects.project_tree, name="project-tree"),
    path("projects/<str:pid>/", projects.project_detail, name="project"),
    path("people/<str:username>/", people.person_detail, name="person"),
    path("me/", people.me, name="me"),
    path("me/email/", people.email_change_request, name="email-change"),
    path("me/email/confirm/<str:token>/", people.email_change_confirm, name="email-confirm"),
    path("usage/", explorer.explorer, name="explorer"),
    path("jobs/", jobs.job_list, name="jobs"),
    path("jobs/<str:machine>/<int:job_id>/", jobs.job_detail, name="job"),
    path("jobs/<str:machine>/<int:job_id>/cancel/", jobs.job_cancel, name="job-cancel"),
    path("usage/export.csv", explorer.explorer_csv, name="explorer-csv"),
    path("manage/grants/new/", admin_tools.grant_create, name="grant-create"),
    path("manage/audit/", admin_tools.audit_log, name="audit-log"),
    path("manage/agent/", agent.agent_status, name="agent-status"),
    path("manage/nodes/", inventory.node_list, name="nodes"),
    path("manage/nodes/<str:name>/", inventory.node_detail, name="node"),
    path("manage/nodes/<str:name>/action/", inventory.node_action, name="node-action"),
    path("manage/shifts/", inventory.shift_list, name="shifts"),
    path("manage/shifts/<int:pk>/", inventory.shift_detail, name="shift"),
    path("manage/shifts/<int:pk>/progress/", inventory.shift_progress, name="shift-progress"),
    path("manage/shifts/<int:pk>/abort/", inventory.shift_abort, name="shift-abort"),
    path("manage/burst/", burst.overview, name="burst"),
    path("manage/burst/live/", burst.overview_live, name="burst-live"),
    path("manage/burst/chart/", burst.overview_chart, name="burst-chart"),
    path("manage/burst/clouds/<str:name>/", burst.cloud_detail, name="burst-cloud"),
    path("manage/burst/vms/", burst.vm_list, name="burst-vms"),
    path("manage/burst/vms/<int:pk>/", burst.vm_detail, name="burst-vm"),
    path("manage/burst/vms/<int:pk>/retire/", burst.vm_retire, name="burst-vm-retire"),
    path("manage/burst/simulations/", burst.simulation_list, name="burst-simulations"),
    path("manage/burst/simulations/<int:pk>/", burst.simulation_detail, name="burst-simulation"),
]
