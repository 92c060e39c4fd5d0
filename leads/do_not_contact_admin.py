"""The do-not-contact list's admin (免打扰名单), registered from leads.admin: the list (searched
by a whole phone or ID number through its blind indexes; nothing else is stored), adding one,
importing a file, adding a lead from its page (``LeadDoNotContactMixin``), and removal with a
written reason, for administrators only, recorded in ``DoNotContactRemoval`` (read-only here).

Django's delete view and bulk delete action are off (``has_delete_permission``): the 移除 page,
through ``leads.do_not_contact.remove``, is the only way an entry leaves the list."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from core.admin import ReadOnlyAdmin
from core.errors import LeadDeskError
from leads import do_not_contact
from leads.admin_pii import IDENTIFIERS, searched_identifier
from leads.do_not_contact_import import MAX_ROWS, list_file
from leads.imports.admin import InMemoryUploadHandler
from leads.imports.spreadsheets import EXTENSIONS, UnreadableFile
from leads.models import (
    DoNotContact,
    DoNotContactKind,
    DoNotContactReason,
    Lead,
)

ADD_PERMISSION = "leads.add_donotcontact"
NOTE_HELP = gettext_lazy("只写原因（如“来电要求不再联系”），不要写手机号、身份证号、姓名等个人信息")
KIND_NAMES = {"phone": gettext_lazy("手机号"), "id_number": gettext_lazy("身份证号")}


def listed_by_number(queryset, term: str):
    """Entries for a whole phone or ID number typed in a search box: its blind index, matched
    exactly (the only thing the list can be searched by). Anything else finds nothing."""
    found = searched_identifier(term)
    if found is None:
        return queryset.none()
    kind, value = found
    return queryset.filter(Q(kind=kind, blind_index=IDENTIFIERS[kind].index(value)))


class AddNumbersForm(forms.Form):
    phone = forms.CharField(label=gettext_lazy("手机号"), max_length=40, required=False)
    id_number = forms.CharField(label=gettext_lazy("身份证号"), max_length=40, required=False)
    reason = forms.ChoiceField(
        label=gettext_lazy("原因"),
        choices=DoNotContactReason.choices,
        initial=DoNotContactReason.REQUESTED,
    )
    note = forms.CharField(
        label=gettext_lazy("备注"), max_length=200, required=False, help_text=NOTE_HELP
    )

    def clean(self):
        data = super().clean()
        try:
            data["phone"], data["id_number"] = do_not_contact.clean_numbers(
                data.get("phone", ""), data.get("id_number", "")
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        try:
            data["note"] = do_not_contact.check_note(data.get("note", ""))
        except LeadDeskError as exc:
            self.add_error("note", str(exc))
        return data


class AddLeadForm(forms.Form):
    reason = forms.ChoiceField(
        label=gettext_lazy("原因"),
        choices=DoNotContactReason.choices,
        initial=DoNotContactReason.REQUESTED,
    )
    note = forms.CharField(
        label=gettext_lazy("备注"), max_length=200, required=False, help_text=NOTE_HELP
    )


class ImportForm(forms.Form):
    import_file = forms.FileField(
        label=gettext_lazy("文件"),
        help_text=gettext_lazy("Excel（.xlsx / .xls）或 CSV；表头：手机号、身份证号、原因、备注。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
    )


class RemoveForm(forms.Form):
    why = forms.CharField(
        label=gettext_lazy("移除理由"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=gettext_lazy(
            "例如：录入错误；本人书面撤回免打扰要求（工单号 …）。记入移除记录。"
        ),
    )


def _outcome_messages(request, kinds_given, added) -> None:
    """Which numbers were listed and which were already: kinds only, never the number."""
    added_kinds = {entry.kind for entry in added}
    listed = [str(KIND_NAMES[kind]) for kind in kinds_given if kind in added_kinds]
    already = [str(KIND_NAMES[kind]) for kind in kinds_given if kind not in added_kinds]
    if listed:
        messages.success(request, _("已加入免打扰名单：%(kinds)s") % {"kinds": "、".join(listed)})
    if already:
        messages.info(
            request,
            _("%(kinds)s此前已在免打扰名单中，未重复添加") % {"kinds": "、".join(already)},
        )


class DoNotContactAdmin(admin.ModelAdmin):
    list_filter = ["kind", "reason", "created_at"]
    search_fields = ["blind_index"]  # shows the search box; get_search_results decides
    search_help_text = gettext_lazy("输入完整的手机号或身份证号查找（只能按号码精确查找）")
    list_select_related = ["added_by"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["kind", "reason", "note", "lead_link", "added_by", "created_at"]
    readonly_fields = fields
    change_list_template = "admin/leads/donotcontact/change_list.html"
    change_form_template = "admin/leads/donotcontact/change_form.html"

    def get_list_display(self, request):
        return ["id", "kind", "reason", "note", "lead_link", "added_by", "created_at"]

    def has_change_permission(self, request, obj=None):
        return False  # an entry is listed or removed, not edited

    def has_delete_permission(self, request, obj=None):
        return False  # removal is the 移除 page, which records why (remove_view)

    def has_remove_permission(self, request) -> bool:
        return do_not_contact.may_remove(request.user)

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return listed_by_number(queryset, search_term), False

    @admin.display(description=gettext_lazy("来自线索"))
    def lead_link(self, entry):
        if entry.lead_id is None:
            return "-"
        url = reverse("admin:leads_lead_change", args=[entry.lead_id])
        return format_html('<a href="{}">#{}</a>', url, entry.lead_id)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "import/",
                view(csrf_exempt(self.import_view)),
                name="leads_donotcontact_import",
            ),
            path(
                "<path:object_id>/remove/",
                view(self.remove_view),
                name="leads_donotcontact_remove",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_add_permission(request),
            "has_removal_log_permission": request.user.has_perm("leads.view_donotcontactremoval"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_remove_permission": self.has_remove_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = AddNumbersForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            added = do_not_contact.add_numbers(
                phone=data["phone"],
                id_number=data["id_number"],
                reason=data["reason"],
                note=data["note"],
                actor=request.user,
            )
            given = [kind for kind in DoNotContactKind.values if data[kind]]
            _outcome_messages(request, given, added)
            return HttpResponseRedirect(reverse("admin:leads_donotcontact_changelist"))
        return self._render(request, "add.html", _("加入免打扰名单"), form=form)

    def import_view(self, request):
        """csrf_exempt outside so the upload stays in memory (it lists people's numbers): the
        handler is set before the body is read; CSRF is checked right after, inside."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        handler = InMemoryUploadHandler(request, limit=MAX_UPLOAD_BYTES)
        request.upload_handlers = [handler]
        return csrf_protect(self._import)(request, handler)

    def _import(self, request, handler):
        data = request.POST if request.method == "POST" else None
        form = ImportForm(data, request.FILES if data is not None else None)
        result = None
        if data is not None and handler.too_large:
            form = ImportForm()
            form.add_error(None, _("文件太大：上限 %(mb)s MB。") % {"mb": MAX_UPLOAD_MB})
        elif form.is_bound and form.is_valid():
            upload = form.cleaned_data["import_file"]
            try:
                result = list_file(upload.read(), upload.name, actor=request.user)
            except UnreadableFile as exc:
                form.add_error("import_file", str(exc))
        return self._render(
            request,
            "import.html",
            _("从 Excel 导入免打扰名单"),
            form=form,
            result=result,
            max_rows=MAX_ROWS,
            reasons="、".join(str(label) for label in DoNotContactReason.labels),
        )

    def remove_view(self, request, object_id):
        if not self.has_remove_permission(request):
            raise PermissionDenied
        if not str(object_id).isdigit():
            raise Http404
        entry = get_object_or_404(DoNotContact, pk=object_id)
        form = RemoveForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                do_not_contact.remove(entry, actor=request.user, why=form.cleaned_data["why"])
            except LeadDeskError as exc:
                form.add_error("why", str(exc))
            else:
                messages.success(request, _("已从免打扰名单移除，并记入移除记录"))
                return HttpResponseRedirect(reverse("admin:leads_donotcontact_changelist"))
        return self._render(request, "remove.html", _("移除免打扰记录"), form=form, entry=entry)

    def _render(self, request, template, title, **context):
        return TemplateResponse(
            request,
            f"admin/leads/donotcontact/{template}",
            {**self.admin_site.each_context(request), "title": title, "opts": self.opts, **context},
        )


MAX_UPLOAD_MB = 5
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024


class DoNotContactRemovalAdmin(ReadOnlyAdmin):
    """What was taken off the list, by whom and why: for administrators and auditors."""

    list_display = ["removed_at", "actor_username", "kind", "reason", "why", "added_at"]
    list_filter = ["kind", "reason", "removed_at"]
    search_fields = ["blind_index"]
    search_help_text = gettext_lazy("输入完整的手机号或身份证号，查看它是否曾被移除")
    fields = ["removed_at", "actor_username", "kind", "reason", "added_at", "why"]
    readonly_fields = fields

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return listed_by_number(queryset, search_term), False


class LeadDoNotContactMixin:
    """The lead page's 加入免打扰名单: a small form (reason, note) listing the lead's phone and
    ID number (``do_not_contact.add_lead``); and whether the lead is listed, on its page."""

    def get_urls(self):
        return [
            path(
                "<path:object_id>/do-not-contact/",
                self.admin_site.admin_view(self.do_not_contact_view),
                name="leads_lead_do_not_contact",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        lead = Lead.objects.filter(pk=object_id).first() if str(object_id).isdigit() else None
        extra_context = {
            **(extra_context or {}),
            "can_add_do_not_contact": bool(
                lead and not lead.is_erased and request.user.has_perm(ADD_PERMISSION)
            ),
            "do_not_contact": do_not_contact.listed_for(lead) if lead else [],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def do_not_contact_view(self, request, object_id):
        if not str(object_id).isdigit():
            raise Http404
        lead = get_object_or_404(Lead, pk=object_id)
        if not (request.user.has_perm(ADD_PERMISSION) and self.has_view_permission(request, lead)):
            raise PermissionDenied
        lead_url = reverse("admin:leads_lead_change", args=[lead.pk])
        form = AddLeadForm(request.POST if request.method == "POST" else None)
        if form.is_bound and form.is_valid():
            try:
                added = do_not_contact.add_lead(
                    lead,
                    reason=form.cleaned_data["reason"],
                    note=form.cleaned_data["note"],
                    actor=request.user,
                )
            except LeadDeskError as exc:
                form.add_error(None, str(exc))
            else:
                _outcome_messages(request, DoNotContactKind.values, added)
                return HttpResponseRedirect(lead_url)
        context = {
            **self.admin_site.each_context(request),
            "title": _("把线索 #%(pk)s 加入免打扰名单") % {"pk": lead.pk},
            "opts": self.opts,
            "lead": lead,
            "lead_url": lead_url,
            "listed": do_not_contact.listed_for(lead),
            "form": form,
        }
        return TemplateResponse(request, "admin/leads/donotcontact/add_lead.html", context)
