from django import forms
from django.utils.translation import gettext_lazy as _

from leads.models import SEALED_FIELDS, Lead
from leads.validators import normalize_id_number, normalize_phone
from partners.models import Partner


class LeadForm(forms.ModelForm):
    """Adding a lead by hand. The personal fields live sealed in ``Lead.pii``, so they are declared
    here; numbers are normalised before the model validates them."""

    phone = forms.CharField(label=_("手机号"))
    id_number = forms.CharField(label=_("身份证号"))
    name = forms.CharField(label=_("姓名"))
    wechat = forms.CharField(label=_("微信"), required=False)
    qq = forms.CharField(label=_("QQ"), required=False)
    address = forms.CharField(label=_("详细地址"), required=False)
    emergency_contact_name = forms.CharField(label=_("紧急联系人"), required=False)
    emergency_contact_phone = forms.CharField(label=_("紧急联系人电话"), required=False)

    class Meta:
        model = Lead
        fields = [
            "phone",
            "id_number",
            "name",
            "wechat",
            "qq",
            "edu_level",
            "province",
            "city",
            "district",
            "address",
            "social_insurance_paid",
            "emergency_contact_name",
            "emergency_relation",
            "emergency_contact_phone",
            "zhima_score",
            "source",
        ]

    def clean_phone(self):
        return normalize_phone(self.cleaned_data["phone"])

    def clean_id_number(self):
        return normalize_id_number(self.cleaned_data["id_number"])

    def clean_emergency_contact_phone(self):
        return normalize_phone(self.cleaned_data["emergency_contact_phone"])

    def clean(self):
        cleaned = super().clean()
        for name in SEALED_FIELDS:
            if name in cleaned:
                setattr(self.instance, name, cleaned[name])
        return cleaned


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, partner):
        return f"{partner.name} — {partner.get_environment_display()} {partner.base_url}"


class ChoosePartnerForm(forms.Form):
    partner = PartnerChoiceField(
        label=_("合作平台"), queryset=Partner.objects.filter(is_active=True), empty_label=None
    )
