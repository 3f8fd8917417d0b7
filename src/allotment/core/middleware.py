"""Input no engine can store, refused at the door."""

from django.http import HttpResponse, JsonResponse


class RefuseNulBytes:
    """A NUL byte in the path, the query string or a cookie is refused with 400.

    PostgreSQL text cannot hold NUL, and such a value reaches a query before any view can
    check it (the session lookup reads the cookie; filters read the query), where it would
    fail as a server error. No real client sends one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if (
            "\x00" in request.path
            or "\x00" in query
            or "%00" in query
            or any("\x00" in value for value in request.COOKIES.values())
        ):
            message = "The request holds a NUL byte (in its path, query or a cookie)."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponse(message, status=400, content_type="text/plain")
        return self.get_response(request)
