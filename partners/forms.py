from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Partner


class PartnerForm(forms.ModelForm):
    """The secret key is write-only: never rendered back, kept as it is when left blank."""

    secret_key = forms.CharField(
        label=_("签名密钥"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("保存后不再显示。修改时留空表示保持原密钥不变。"),
    )

    class Meta:
        model = Partner
        fields = [
            "name",
            "slug",
            "is_active",
            "environment",
            "test_base_url",
            "production_base_url",
            "push_url",
            "utm_source",
            "client_id",
            "secret_key",
            "collision_protocol",
            "push_protocol",
            "push_data_as_string",
            "push_integers_as_strings",
            "connect_timeout",
            "read_timeout",
            "max_concurrency",
            "max_requests_per_second",
            "daily_push_cap",
            "working_hours_start",
            "working_hours_end",
            "is_paused",
            "failure_threshold",
        ]

    def clean_secret_key(self):
        key = self.cleaned_data["secret_key"]
        if key:
            return key
        if self.instance.pk:
            return Partner.objects.get(pk=self.instance.pk).secret_key
        raise forms.ValidationError(_("新建合作平台时必须填写签名密钥"))
