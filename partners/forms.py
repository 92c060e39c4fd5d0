from collections.abc import Sequence

from django import forms
from django.utils.translation import gettext_lazy as _

from partners.models import Environment, Partner

KEY_FIELDS = {"test_secret_key": Environment.TEST, "production_secret_key": Environment.PRODUCTION}
# Commercial terms that always have a value. Left blank (or not posted at all, by a client that
# predates them), they keep the partner's current value: the default for a new partner.
KEPT_WHEN_BLANK = ("price_per_push", "priority", "weight")


def _key_field(label):
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("保存后不再显示。修改时留空表示保持原密钥不变。"),
    )


class PartnerForm(forms.ModelForm):
    """Each environment's secret key is write-only. The keys are not among the form's model
    fields, so a key never sits in the form's initial data (an error report would show it) and a
    blank field leaves that key alone without recording it as changed. Which settings the active
    environment needs (its key; its push URL and clientId when the partner takes pushes) is the
    model's rule (Partner.clean), reported on the field concerned."""

    test_secret_key = _key_field(_("测试环境签名密钥"))
    production_secret_key = _key_field(_("生产环境签名密钥"))
    # The education codes are Lead.edu_level's, which partners may not import (import-linter
    # layers): the admin, which may, gives them in ``edu_level_choices`` (partners.admin).
    accepted_edu_levels = forms.MultipleChoiceField(
        label=Partner._meta.get_field("accepted_edu_levels").verbose_name,
        help_text=Partner._meta.get_field("accepted_edu_levels").help_text,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    edu_level_choices: Sequence[tuple[str, str]] = ()

    class Meta:
        model = Partner
        fields = [
            "name",
            "slug",
            "is_active",
            "environment",
            "receives_pushes",
            "utm_source",
            "test_base_url",
            "test_push_url",
            "test_client_id",
            "production_base_url",
            "production_push_url",
            "production_client_id",
            "collision_protocol",
            "push_protocol",
            "push_data_as_string",
            "push_integers_as_strings",
            "call_refusal_codes",
            "call_refusal_words",
            "connect_timeout",
            "read_timeout",
            "max_concurrency",
            "max_requests_per_second",
            "daily_push_cap",
            "working_hours_start",
            "working_hours_end",
            "is_paused",
            "failure_threshold",
            "allowed_regions",
            "refused_regions",
            "min_age",
            "max_age",
            "min_zhima_score",
            "accepted_edu_levels",
            "requires_social_insurance",
            "allowed_sources",
            "refused_sources",
            "price_per_push",
            "priority",
            "weight",
            "exclusive_only",
            "check_valid_days",
        ]
        widgets = {
            name: forms.Textarea(attrs={"rows": 3, "cols": 40})
            for name in (
                "call_refusal_words",
                "allowed_regions",
                "refused_regions",
                "allowed_sources",
                "refused_sources",
            )
        }
        # The admin builds its form from the fieldsets, which name the keys: keep the model
        # fields out.
        exclude = list(KEY_FIELDS)  # noqa: DJ006

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "accepted_edu_levels" in self.fields:
            self.fields["accepted_edu_levels"].choices = self.edu_level_choices
        for name in KEPT_WHEN_BLANK:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        cleaned_data = super().clean()
        for name in KEPT_WHEN_BLANK:
            if name in self.fields and cleaned_data.get(name) is None and name not in self.errors:
                cleaned_data[name] = getattr(self.instance, name)
        return cleaned_data

    def _post_clean(self):
        # Onto the instance before the model validates it: Partner.clean asks for the active
        # environment's key, which may be the one typed in just now.
        for name, environment in KEY_FIELDS.items():
            if key := self.cleaned_data.get(name):
                self.instance.replace_secret_key(key, environment=environment)
        super()._post_clean()
