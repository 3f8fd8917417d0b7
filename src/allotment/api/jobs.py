"""/api/jobs/: the caller's own batch jobs (jobs.services, as the CLI and the web form).

GET /api/jobs/ lists them (?machine=, ?limit= up to 200); POST submits one as the caller;
GET /api/jobs/{machine}/{job_id}/ shows one with Slurm's view; DELETE cancels it;
GET /api/jobs/{machine}/{job_id}/output/ is what it printed (JSON: the text, at most its
last 64 KiB, whether it was cut, and a note when there is nothing to show). Slurm reuses
job ids: an id names the caller's newest job with it. A job that is not the caller's is
answered 404, whoever calls. Refusals are 400 with the reason, as every refusal of the API
is: {"errors": {"non_field_errors": ["..."]}}; a submission over the person's limits is
429 ({"detail": "..."}, with Retry-After in seconds for the hourly limit: a client that
waits and retries is doing the right thing, which 400 would not say).
Site administrators may act for someone with "as_user" (POST) or ?as_user= (others).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allotment.core.numbers import is_digits
from allotment.jobs import services
from allotment.jobs.models import Via

from .permissions import PolicyPermission
from .views import note_actor


class SubmitSerializer(serializers.Serializer):
    script = serializers.CharField(max_length=services.MAX_SCRIPT_BYTES, trim_whitespace=False)
    project = serializers.CharField(max_length=64)
    machine = serializers.CharField(max_length=100, required=False, default="")
    cores = serializers.IntegerField(min_value=1, max_value=services.MAX_CORES, default=1)
    memory_mb = serializers.IntegerField(min_value=0, max_value=services.MAX_MEMORY_MB, default=0)
    time = serializers.CharField(max_length=16, default="1h", help_text="90, 1h30m, 2d, 1:30:00")
    partition = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    image = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    name = serializers.CharField(max_length=64, required=False, default="", allow_blank=True)
    as_user = serializers.CharField(
        max_length=150, required=False, default="", allow_blank=True,
        help_text="Submit for this person (site administrators only).",
    )  # fmt: skip


AS_USER = OpenApiParameter("as_user", str, description="Site administrators: whose.")


class TooManyJobs(exceptions.APIException):
    """429; DRF's handler turns `wait` into Retry-After."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_jobs"

    def __init__(self, detail: str, wait: int | None):
        super().__init__(detail)
        self.wait = wait


class JobsView(APIView):
    """Signed in; every answer is about the caller's own jobs (or --as's, for admins)."""

    permission_classes = [PolicyPermission]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        note_actor(request)

    def handle_exception(self, exc):
        if isinstance(exc, services.LimitReached):
            exc = TooManyJobs(str(exc), exc.retry_after)
        elif isinstance(exc, services.NoSuchJob):
            exc = exceptions.NotFound(str(exc))
        elif isinstance(exc, services.JobRefused):
            exc = exceptions.ValidationError(str(exc))  # {"errors": {"non_field_errors": [...]}}
        return super().handle_exception(exc)

    @staticmethod
    def _as(request: Request) -> str | None:
        return request.query_params.get("as_user") or None


class JobListView(JobsView):
    @extend_schema(
        operation_id="jobs_list",
        summary="The person's jobs, newest first (at most `limit`, 200)",
        parameters=[
            OpenApiParameter("limit", int, description="How many (at most 200)."),
            OpenApiParameter("machine", str, description="Only this machine's."),
            AS_USER,
        ],
        responses={200: OpenApiResponse({"type": "array", "items": {"type": "object"}})},
    )
    def get(self, request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", services.DEFAULT_LIST))
        except ValueError:
            raise exceptions.ValidationError({"limit": "A whole number."}) from None
        rows = services.submissions(
            request.user, self._as(request), request.query_params.get("machine", ""), limit
        )
        return Response([services.as_dict(r) for r in rows])

    @extend_schema(
        request=SubmitSerializer,
        responses={
            201: OpenApiTypes.OBJECT,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused, with the reason."),
            429: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Over the person's submission limits (Retry-After: seconds, "
                "for the hourly one).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ask = services.ask_from(data)
        row = services.submit(request.user, ask, data["as_user"] or None, via=Via.API)
        return Response(services.as_dict(row), status=status.HTTP_201_CREATED)


class JobDetailView(JobsView):
    @extend_schema(operation_id="jobs_show", responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, machine: str, job_id: int) -> Response:
        row, view = services.show(request.user, job_id, machine, self._as(request))
        return Response(services.as_dict(row, view))

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def delete(self, request: Request, machine: str, job_id: int) -> Response:
        row = services.cancel(request.user, job_id, machine, self._as(request))
        return Response(services.as_dict(row))


class JobOutputView(JobsView):
    @extend_schema(
        operation_id="jobs_output",
        summary="What the job printed: the end of its output file, when this host sees it",
        parameters=[
            OpenApiParameter("tail", int, description="Only the last this many lines."),
            AS_USER,
        ],
        responses={
            200: OpenApiResponse(
                {
                    "type": "object",
                    "properties": {
                        "job_id": {"type": "integer"},
                        "machine": {"type": "string"},
                        "path": {"type": "string"},
                        "available": {"type": "boolean"},
                        "text": {"type": "string", "nullable": True},
                        "cut": {"type": "boolean"},
                        "size": {"type": "integer", "nullable": True},
                        "note": {"type": "string"},
                    },
                }
            )
        },
    )
    def get(self, request: Request, machine: str, job_id: int) -> Response:
        tail = request.query_params.get("tail")
        if tail is not None and not is_digits(tail):
            raise exceptions.ValidationError({"tail": "A whole number of lines."})
        found = services.output(
            request.user, job_id, machine, self._as(request), int(tail) if tail else None
        )
        return Response({"job_id": job_id, "machine": machine, **found.as_dict()})
