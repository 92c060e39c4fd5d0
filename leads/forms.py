from django import forms
from django.utils.translation import gettext_lazy as _

from leads.fields import LEAD_FIELDS, Clean
from leads.models import Lead
from leads.validators import normalize_id_number, normalize_phone
from partners.models import Partner

# Typed by hand: numbers are normalised (spaces, +86, lower-case x) before the model validates.
NORMALISE = {Clean.PHONE: normalize_phone, Clean.ID_NUMBER: normalize_id_number}

# The personal fields live sealed in ``Lead.pii``, not as model fields, so the form declares them
# (from leads.fields), in a base class the ModelForm inherits them from.
SealedFields = type(
    "SealedFields",
    (forms.Form,),
    {
        "__module__": __name__,
        **{
            f.name: forms.CharField(label=f.label, required=f.required)
            for f in LEAD_FIELDS
            if f.is_sealed
        },
    },
)


class LeadForm(SealedFields, forms.ModelForm):
    """Adding a lead by hand: every declared field of leads.fields, in their order, and the
    source."""

    class Meta:
        model = Lead
        fields = [*(f.name for f in LEAD_FIELDS), "source"]

    def clean(self):
        cleaned = super().clean()
        for declared in LEAD_FIELDS:
            if not declared.is_sealed or declared.name not in cleaned:
                continue
            normalise = NORMALISE.get(declared.clean)
            if normalise is not None:
                cleaned[declared.name] = normalise(cleaned[declared.name])
            setattr(self.instance, declared.name, cleaned[declared.name])
        return cleaned


class PartnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, partner):
        return f"{partner.name} — {partner.get_environment_display()} {partner.base_url}"


class ChoosePartnerForm(forms.Form):
    partner = PartnerChoiceField(
        label=_("合作平台"),
        queryset=Partner.objects.filter(is_active=True),
        # Nothing chosen until the operator chooses: a preselected partner is one click from a
        # check or push sent to the wrong lender.
        empty_label=_("请选择"),
        error_messages={
            "required": _("请先选择合作平台"),
            "invalid_choice": _("请选择列出的合作平台"),
        },
    )

    def __init__(self, *args, pushing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if pushing:  # only partners that take pushes are offered a push
            field = self.fields["partner"]
            field.queryset = field.queryset.filter(receives_pushes=True)
