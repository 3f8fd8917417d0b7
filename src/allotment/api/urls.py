"""/api/: the ledger's tables, the workflows, the usage report, the schema and its docs."""

from django.urls import include, path, re_path
from rest_framework.routers import DefaultRouter

from . import applications, burst, docs, email, inventory, jobs, views
from .errors import not_found

app_name = "api"

router = DefaultRouter()
router.register("people", views.PersonViewSet, basename="person")
router.register("projects", views.ProjectViewSet, basename="project")
router.register("memberships", views.MembershipViewSet, basename="membership")
router.register("groups", views.GroupViewSet, basename="group")
router.register("group-members", views.GroupMemberViewSet, basename="group-member")
router.register("machines", views.MachineViewSet, basename="machine")
router.register("resource-pools", views.ResourcePoolViewSet, basename="resource-pool")
router.register("resources", views.ResourceViewSet, basename="resource")
router.register("schemes", views.SchemeViewSet, basename="scheme")
router.register("grants", views.GrantViewSet, basename="grant")
router.register("periods", views.PeriodViewSet, basename="period")
router.register("allocation-pools", views.AllocationPoolViewSet, basename="allocation-pool")
router.register("allocations", views.AllocationViewSet, basename="allocation")
router.register("join-requests", applications.JoinRequestViewSet, basename="join-request")
router.register("invitations", applications.InvitationViewSet, basename="invitation")
router.register(
    "project-applications", applications.ProjectApplicationViewSet, basename="project-application"
)
router.register("nodes", inventory.NodeViewSet, basename="node")
router.register("shifts", inventory.ShiftViewSet, basename="shift")
router.register("clouds", burst.CloudViewSet, basename="cloud")
router.register("vms", burst.VMViewSet, basename="vm")

urlpatterns = [
    path("burst/status/", burst.BurstStatusView.as_view(), name="burst-status"),
    path("burst/vms-over-time/", burst.VMsOverTimeView.as_view(), name="burst-vms-over-time"),
    path("jobs/", jobs.JobListView.as_view(), name="jobs"),
    path("jobs/<str:machine>/<int:job_id>/", jobs.JobDetailView.as_view(), name="job"),
    path(
        "jobs/<str:machine>/<int:job_id>/output/", jobs.JobOutputView.as_view(), name="job-output"
    ),
    path("usage/report/", views.UsageReportView.as_view(), name="usage-report"),
    path("email-change/", email.EmailChangeView.as_view(), name="email-change"),
    path("email-change/confirm/", email.EmailConfirmView.as_view(), name="email-confirm"),
    path("openapi.json", docs.SchemaView.as_view(), name="schema"),
    path("docs/", docs.DocsView.as_view(), name="docs"),
    re_path(r"^docs/assets/(?P<path>[\w./-]+)$", docs.asset, name="docs-asset"),
    path("", include(router.urls)),
    # Anything else under /api/ is a JSON 404, never Django's HTML page.
    re_path(r"^.*$", not_found),
]
