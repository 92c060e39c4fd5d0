"""The import in the admin: the upload view (a mixin for LeadAdmin), the import template, and
the import batches' read-only admin with its confirm, cancel, retry, progress and rejected-rows
views (registered by ``leads.admin``).

Built on django-import-export's admin glue (the changelist button and template, the URL name
``<app>_<model>_import``). Its import view itself is replaced: it keeps the upload in a
plaintext temporary file, runs the whole import in the request, shows rows unmasked, drops
per-row errors in bulk mode, and defaults to no permission check. Ours: the upload is kept in
memory and then encrypted, large files run as background tasks, every rejected row is reported
masked, and import needs its own permission.
"""

import io
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import InMemoryUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.http import FileResponse, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixinBase

from core.admin import PII_PERMISSION, ReadOnlyAdmin, can_view_pii
from core.errors import LeadDeskError
from leads.access_log import record_access, record_rejected_rows
from leads.exports.services import FORMATS
from leads.fields import FIELDS_BY_NAME
from leads.imports import rejected, services, upload
from leads.imports.columns import COLUMNS
from leads.imports.spreadsheets import EXTENSIONS, SheetSpec, write_xlsx
from leads.models import (
    AccessKind,
    ExportKind,
    ExportRecord,
    ImportBatch,
    ImportState,
    Lead,
    OnDuplicate,
)
from pushes.lead_list import batch_part

IMPORT_PERMISSION = "leads.import_lead"
XLSX_TYPE = FORMATS["xlsx"]


# --- upload -------------------------------------------------------------------------------


class InMemoryUploadHandler(FileUploadHandler):
    """Keeps the upload in memory, never in a temporary file (it is a list of people's ID
    numbers), and stops reading past ``limit`` bytes."""

    def __init__(self, request=None, *, limit: int):
        super().__init__(request)
        self.limit, self.too_large, self.received = limit, False, 0

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.chunks = []

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self.too_large = True
            raise StopUpload(connection_reset=False)
        self.chunks.append(raw_data)

    def file_complete(self, file_size):
        data = io.BytesIO(b"".join(self.chunks))
        self.chunks = []
        return InMemoryUploadedFile(
            data, self.field_name, self.file_name, self.content_type, file_size, self.charset
        )


# The columns our rejected-rows file adds: read back, they are neither data nor unknown.
OUR_COLUMNS = {"reason", "row_number"}


class ImportForm(forms.Form):
    import_file = forms.FileField(
        label=gettext_lazy("线索文件"),
        help_text=gettext_lazy("Excel（.xlsx / .xls）或 CSV（UTF-8 或 GBK 编码）；第一行为表头。"),
        widget=forms.ClearableFileInput(attrs={"accept": ",".join(EXTENSIONS)}),
    )
    source = forms.CharField(
        label=gettext_lazy("来源（渠道）"),
        max_length=100,
        required=False,
        help_text=gettext_lazy(
            "写入新线索的“来源”；留空则用文件名。重新上传下载的被拒行文件时，留空则沿用原批次的来源。"
        ),
    )
    on_duplicate = forms.ChoiceField(
        label=gettext_lazy("已存在的线索"),
        choices=OnDuplicate.choices,
        initial=OnDuplicate.SKIP,
        widget=forms.RadioSelect,
    )


class LeadImportMixin(ImportExportMixinBase):
    """The changelist's "导入" button and the upload page; the batch page takes it from there."""

    import_export_change_list_template = "admin/leads/lead/change_list_import_export.html"

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def get_urls(self):
        app, model = self.opts.app_label, self.opts.model_name
        return [
            path(
                "import/",
                self.admin_site.admin_view(csrf_exempt(self.import_action)),
                name=f"{app}_{model}_import",
            ),
            path(
                "import/template.xlsx",
                self.admin_site.admin_view(self.import_template),
                name=f"{app}_{model}_import_template",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "has_import_permission": self.has_import_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def import_action(self, request):
        """csrf_exempt outside so the upload handlers can be swapped before anything reads the
        body; CSRF is checked right after, inside."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        handler = InMemoryUploadHandler(request, limit=settings.LEAD_IMPORT_MAX_BYTES)
        request.upload_handlers = [handler]
        return csrf_protect(self._import_view)(request, handler)

    def _import_view(self, request, handler):
        upload_error = ""
        data = request.POST if request.method == "POST" else None  # reads the body, via handler
        if data is not None and handler.too_large:
            # Reading stopped at the limit, so the rest of the form never arrived either.
            form = ImportForm()
            upload_error = _("文件太大：上限 %(limit)s MB。请拆分后分批导入。") % {
                "limit": f"{settings.LEAD_IMPORT_MAX_BYTES / 1024 / 1024:.1f}"
            }
        else:
            form = ImportForm(data, request.FILES if data is not None else None)
        if form.is_bound and form.is_valid():
            upload = form.cleaned_data["import_file"]
            batch = services.import_batch_create(
                file_name=upload.name,
                data=upload.read(),
                actor=request.user,
                source=form.cleaned_data["source"],
                on_duplicate=form.cleaned_data["on_duplicate"],
            )
            services.import_batch_start_analysis(batch)
            batch.refresh_from_db()
            if batch.state != ImportState.FAILED:
                return HttpResponseRedirect(batch_url(batch))
            form.add_error("import_file", batch.error)
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入线索"),
            "opts": self.opts,
            "form": form,
            "upload_error": upload_error,
            "columns": COLUMNS,
            "max_mb": settings.LEAD_IMPORT_MAX_BYTES // (1024 * 1024),
            "max_rows": settings.LEAD_IMPORT_MAX_ROWS,
            "recent": ImportBatch.objects.select_related("created_by")[:10],
        }
        return TemplateResponse(request, "admin/leads/lead/import.html", context)

    def import_template(self, request):
        if not self.has_import_permission(request):
            raise PermissionDenied
        return _xlsx_response(import_template_xlsx(), f"{_('线索导入模板')}.xlsx")


def import_template_xlsx() -> bytes:
    """The canonical headers, identifier columns formatted as text (so Excel keeps all 18 digits
    of an ID number typed into them), and a sheet explaining each column."""
    headers = [str(c.label) for c in COLUMNS]
    text_columns = frozenset(i for i, c in enumerate(COLUMNS) if c.identifier)
    notes = [
        [
            str(c.label),
            _("必填") if c.required else _("选填"),
            " / ".join(c.aliases),
            str(FIELDS_BY_NAME[c.field].hint),
        ]
        for c in COLUMNS
    ]
    return write_xlsx(
        [
            SheetSpec(_("线索"), headers, [], text_columns, widths=[16] * len(headers)),
            SheetSpec(
                _("填写说明"),
                [_("列名"), _("是否必填"), _("可识别的列名"), _("填写要求")],
                notes,
                widths=[16, 10, 48, 60],
            ),
        ]
    )


def _xlsx_response(content: bytes, file_name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, file_name)
    return response


def batch_url(batch: ImportBatch) -> str:
    return reverse("admin:leads_importbatch_change", args=[batch.pk])


class ImportBatchAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "file_name", "source", "created_by", "state", "rows_total",
        "rows_new", "rows_update", "rows_duplicate_total", "rows_invalid", "leads_created",
    ]  # fmt: skip
    list_filter = ["state", "created_at"]
    search_fields = ["file_name", "source"]
    list_select_related = ["created_by"]

    @admin.display(description=gettext_lazy("重复"))
    def rows_duplicate_total(self, batch):
        return batch.rows_duplicate

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or request.user.has_perm(IMPORT_PERMISSION)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/confirm/", view(self.confirm_view), name="leads_importbatch_confirm"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="leads_importbatch_cancel"),
            path("<int:pk>/retry/", view(self.retry_view), name="leads_importbatch_retry"),
            path(
                "<int:pk>/rejected.xlsx",
                view(self.rejected_view),
                name="leads_importbatch_rejected",
            ),
            path("<int:pk>/progress/", view(self.progress_view), name="leads_importbatch_progress"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        batch = get_object_or_404(ImportBatch.objects.select_related("created_by"), pk=object_id)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        reveal = can_view_pii(request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": _("导入批次 #%(id)s：%(name)s") % {"id": batch.pk, "name": batch.file_name},
            "opts": self.opts,
            "batch": batch,
            "known_columns": [
                c for c in batch.columns if c["field"] and c["field"] not in OUR_COLUMNS
            ],
            "rejected": rejected.rejected_preview(batch, reveal=reveal)
            if batch.rows_rejected
            else [],
            "preview_limit": rejected.PREVIEW_ROWS,
            "reveal": reveal,
            "can_handle": self._may_handle(request, batch),
            "can_download_rejected": self._may_handle(request, batch),
            "stale": services.import_batch_is_stale(batch),
            **self._leads_context(request, batch),
        }
        if reveal and context["rejected"]:  # rejected cells shown in full: a sight to log
            record_access(
                actor=request.user,
                kind=AccessKind.DETAIL,
                permission=PII_PERMISSION,
                row_count=len({cell.row for cell in context["rejected"]}),
                criteria=_("导入批次 #%(id)s 的被拒行") % {"id": batch.pk},
                page=request.path,
            )
        return TemplateResponse(request, "admin/leads/importbatch/detail.html", context)

    def _leads_context(self, request, batch) -> dict:
        """The leads this batch wrote, as a link to the lead list filtered by it, and the
        "check these" button (the lead list's check action over that filtered list)."""
        if batch.state != ImportState.DONE:
            return {}
        leads = Lead.objects.filter(import_batch=batch)
        count = leads.count()
        first = leads.order_by("pk").values_list("pk", flat=True).first()
        url = f"{reverse('admin:leads_lead_changelist')}?{urlencode({'batch': batch.pk})}"
        may_list = request.user.has_perm("leads.view_lead")
        parts = []
        for part, label in (("new", _("新增")), ("updated", _("更新"))):  # they add up to count
            n = batch_part(leads, batch, part).count()
            link = f"{url}&{urlencode({'batch_part': part})}" if may_list and n else ""
            parts.append({"key": part, "label": label, "count": n, "url": link})
        return {
            "batch_leads": count,
            "batch_leads_url": url if may_list and count else "",
            "batch_parts": parts,
            "batch_leads_rewritten": batch.leads_created + batch.leads_updated - count,
            "check_batch": {"url": url, "first": first}
            if may_list and count and request.user.has_perm("leads.check_lead")
            else None,
            "distribute_batch": {"url": url, "first": first}
            if may_list and count and request.user.has_perm("distribution.run_plan")
            else None,
            "batch_runs": list(batch.distribution_runs.select_related("plan"))
            if request.user.has_perm("distribution.view_run")
            else [],
        }

    def _may_handle(self, request, batch) -> bool:
        """Confirming, cancelling, retrying a batch and downloading its rejected rows (personal
        data in full) belong to its uploader, or to whoever may handle every batch."""
        return request.user.has_perm(IMPORT_PERMISSION) and batch.may_be_handled_by(request.user)

    def _batch_for_import(self, request, pk) -> ImportBatch:
        batch = get_object_or_404(ImportBatch, pk=pk)
        if not self._may_handle(request, batch):
            raise PermissionDenied
        return batch

    @method_decorator(require_POST)
    def confirm_view(self, request, pk):
        batch = self._batch_for_import(request, pk)
        try:
            batch = services.import_batch_confirm(batch, actor=request.user)
        except LeadDeskError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(batch_url(batch))
        if batch.state == ImportState.DONE:
            self.message_user(
                request,
                _(
                    "导入完成：新增 %(created)s 条，更新 %(updated)s 条，跳过 %(skipped)s 条，被拒 %(rejected)s 行。"
                )
                % {
                    "created": batch.leads_created,
                    "updated": batch.leads_updated,
                    "skipped": batch.leads_skipped,
                    "rejected": batch.rows_rejected,
                },
                messages.SUCCESS,
            )
        elif batch.state == ImportState.FAILED:
            self.message_user(request, batch.error, messages.ERROR)
        else:
            self.message_user(request, _("已开始后台导入，本页会显示进度。"), messages.INFO)
        return HttpResponseRedirect(batch_url(batch))

    @method_decorator(require_POST)
    def cancel_view(self, request, pk):
        batch = self._batch_for_import(request, pk)
        if services.import_batch_cancel(batch):
            self.message_user(request, _("已取消，上传的数据已删除。"), messages.SUCCESS)
        else:
            self.message_user(request, _("这个批次当前不能取消。"), messages.ERROR)
        return HttpResponseRedirect(batch_url(batch))

    @method_decorator(require_POST)
    def retry_view(self, request, pk):
        batch = self._batch_for_import(request, pk)
        if services.import_batch_retry(batch):
            self.message_user(request, _("已重新排队。"), messages.SUCCESS)
        return HttpResponseRedirect(batch_url(batch))

    def rejected_view(self, request, pk):
        batch = self._batch_for_import(request, pk)
        with transaction.atomic():  # the file's two records commit together
            content = rejected.rejected_rows_file(batch, actor=request.user)
            # The export record the file just wrote: this user's newest of this kind.
            mine = ExportRecord.objects.filter(actor=request.user, kind=ExportKind.REJECTED_ROWS)
            record_rejected_rows(
                actor=request.user, batch=batch, export_record=mine.latest("pk"), page=request.path
            )
        stem = batch.file_name.rsplit(".", 1)[0]
        if again := upload.REJECTED_FILE_STEM.match(stem):  # rejected rows of rejected rows
            stem = again["original"]
        return FileResponse(
            io.BytesIO(content),  # a file-like object: an iterator would get no file name
            as_attachment=True,
            filename=f"{stem}-被拒行.xlsx",
            content_type=XLSX_TYPE,
        )

    def progress_view(self, request, pk):
        batch = get_object_or_404(ImportBatch, pk=pk)
        if not self.has_view_permission(request, batch):
            raise PermissionDenied
        return JsonResponse(
            {
                "state": batch.state,
                "state_label": batch.get_state_display(),
                "phase": batch.phase,
                "done": batch.progress_done,
                "total": batch.progress_total,
                "percent": batch.progress_percent,
                "running": batch.is_running,
            }
        )
