from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from django.views.generic import RedirectView
from two_factor import views as two_factor

from config.health import healthz

admin.site.site_header = "LeadDesk"
admin.site.site_title = "LeadDesk"
admin.site.index_title = gettext_lazy("线索分发后台")
# The home page: the dashboard (reporting) above the app list, for whoever may see leads.
admin.site.index_template = "reporting/index.html"

# two_factor's views under /admin/, its login in place of the admin's (password, then the code).
_page = {"site_header": admin.site.site_header, "site_title": admin.site.site_title}
two_factor_urls = (
    [
        path("login/", two_factor.LoginView.as_view(extra_context=_page), name="login"),
        path("two_factor/", two_factor.ProfileView.as_view(extra_context=_page), name="profile"),
        path("two_factor/setup/", two_factor.SetupView.as_view(extra_context=_page), name="setup"),
        path("two_factor/qrcode/", two_factor.QRGeneratorView.as_view(), name="qr"),
        path(
            "two_factor/setup/complete/",
            two_factor.SetupCompleteView.as_view(extra_context=_page),
            name="setup_complete",
        ),
        path(
            "two_factor/backup/tokens/",
            two_factor.BackupTokensView.as_view(extra_context=_page),
            name="backup_tokens",
        ),
        path(
            "two_factor/disable/",
            two_factor.DisableView.as_view(extra_context=_page),
            name="disable",
        ),
    ],
    "two_factor",
)

urlpatterns = [
    path("healthz", healthz, name="healthz"),  # no login: for load balancers and monitoring
    path("admin/", include(two_factor_urls)),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
