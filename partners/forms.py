from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Partner


class PartnerForm(forms.ModelForm):
    """The secret key is write-only. It is not one of the form's model fields, so the key never
    sits in the form's initial data (an error report would show it) and a blank field leaves the
    key alone without recording it as changed."""

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
        # The admin builds its form from the fieldsets, which name the key: keep the model field out.
        exclude = ["secret_key"]  # noqa: DJ006

    def clean_secret_key(self):
        key = self.cleaned_data["secret_key"]
        if not key and not self.instance.has_secret_key:
            raise forms.ValidationError(_("新建合作平台时必须填写签名密钥"))
        return key

    def _post_clean(self):
        super()._post_clean()
        if key := self.cleaned_data.get("secret_key"):
            self.instance.replace_secret_key(key)
