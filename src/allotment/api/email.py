"""Changing one's own email over the API: the same two steps as /me/email/.

POST /api/email-change/ {email} mails a link to the new address and answers 202 without
the token (it travels only in that email, or anyone holding the caller's API token could
verify any address). POST /api/email-change/confirm/ {token} makes the change, for the
caller only: a token from someone else's request is refused as an invalid one.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allotment.people import email as email_change

from .permissions import PolicyPermission
from .views import note_actor


class EmailChangeRequestSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, help_text="The new address.")


class EmailChangeSerializer(serializers.Serializer):
    email = serializers.EmailField(read_only=True, help_text="The address waiting for the link.")
    expires_at = serializers.DateTimeField(read_only=True, help_text="When the link stops working.")


class EmailConfirmSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=100, help_text="The token from the emailed link.")


class OwnEmailSerializer(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    email_verified = serializers.BooleanField(read_only=True)


REFUSED = OpenApiResponse(OpenApiTypes.OBJECT, description="Refused input, naming the field.")


class EmailChangeView(APIView):
    """Ask to change the caller's own email."""

    permission_classes = [PolicyPermission]

    @extend_schema(
        operation_id="email_change_request",
        summary="Ask to change your email: a link goes to the new address",
        description="The change takes effect when the caller confirms with the token from "
        "the link (POST /api/email-change/confirm/). A newer request replaces an older one; "
        f"at most {email_change.MAX_REQUESTS_PER_DAY} a day.",
        request=EmailChangeRequestSerializer,
        responses={202: EmailChangeSerializer, 400: REFUSED},
    )
    def post(self, request: Request) -> Response:
        note_actor(request)
        body = EmailChangeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change, _ = email_change.request_change(request.user, body.validated_data["email"])
        return Response(EmailChangeSerializer(change).data, status=status.HTTP_202_ACCEPTED)


class EmailConfirmView(APIView):
    """Confirm the caller's own email change with the emailed token."""

    permission_classes = [PolicyPermission]

    @extend_schema(
        operation_id="email_change_confirm",
        summary="Confirm your new email with the token from the link",
        description="Only the person who asked may confirm: a token of someone else's "
        "request is refused like a mistyped one. The email becomes verified.",
        request=EmailConfirmSerializer,
        responses={200: OwnEmailSerializer, 400: REFUSED},
    )
    def post(self, request: Request) -> Response:
        note_actor(request)
        body = EmailConfirmSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        person = email_change.confirm(body.validated_data["token"], request.user)
        return Response(OwnEmailSerializer(person).data)
