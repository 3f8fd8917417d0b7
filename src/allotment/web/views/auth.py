"""Signing in (local password, or the institution's OpenID Connect provider) and out."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import NoReverseMatch, reverse


class SignInView(auth_views.LoginView):
    """Django's login view with the project's backends (locked people are refused there)."""

    template_name = "web/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        oidc_url = None
        if getattr(settings, "OIDC_ENABLED", False):
            try:
                oidc_url = reverse("oidc_authentication_init")
            except NoReverseMatch:  # configured, but its URLs are not mounted
                oidc_url = None
        context["oidc_url"] = oidc_url
        return context


class SignOutView(auth_views.LogoutView):
    """POST only (Django's rule): a link or prefetch cannot sign anyone out."""

    http_method_names = ["post", "options"]
