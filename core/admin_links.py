"""Read-only foreign keys link only where the viewer may go.

Django's admin renders a read-only foreign key (a push's audit row, a lead's uploader) as a link
to the related object's change page whether or not the viewer may open it, so an operator was
shown links that answer 403. The link needs the request to decide, and the read-only field is
given none: a middleware keeps the request in a context variable for the length of the request,
and the field asks the related model's admin whether this user may view that object."""

from contextvars import ContextVar

from django.contrib.admin import helpers

_request = ContextVar("admin_request", default=None)
_linked = helpers.AdminReadonlyField.get_admin_url


class AdminRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _get_admin_url(self, remote_field, remote_obj):
    request = _request.get()
    related_admin = self.model_admin.admin_site._registry.get(remote_field.model)
    if request is None or related_admin is None:
        return str(remote_obj)
    if not related_admin.has_view_or_change_permission(request, remote_obj):
        return str(remote_obj)
    return _linked(self, remote_field, remote_obj)


def install() -> None:
    helpers.AdminReadonlyField.get_admin_url = _get_admin_url
