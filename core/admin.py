"""Admin building blocks shared by the apps: who may see personal data in full (an explicit
grant, decided once per request), read-only admins, list filters that stay cheap on tables of
millions of rows (a day range, the distinct values of an indexed column), and the user and group
admins within core.accounts' rule. The lead-specific blocks (PII columns, the pages' access log, blind-index
search) are ``leads.admin_pii``: core imports no other app."""

import datetime

from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth.models import Group, User
from django.db import connections, router
from django.db.models import Q
from django.http import QueryDict
from django.utils import timezone

from core import accounts
from core.lockout import unlock_sign_in
from core.two_factor import reset_two_factor

PII_PERMISSION = "leads.view_lead_pii"


def can_view_pii(user) -> bool:
    """Only an explicit grant (to the user or a group) reveals PII: being superuser is not enough."""
    return accounts.has_explicit_permission(user, PII_PERMISSION)


def reveal_pii(request) -> bool:
    """Whether this request's page shows personal data in full (``can_view_pii``): decided once
    per request and remembered, so that ``PersonalDataPagesMixin`` logs exactly the pages whose
    columns were built unmasked. Admins call this where they decide to reveal."""
    if not hasattr(request, "_reveals_pii"):
        request._reveals_pii = can_view_pii(request.user)
    return request._reveals_pii


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by services only: viewable, never added, changed or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BigTableMixin:
    """For a list over a table of millions of rows (issue 14), before the ModelAdmin base:
    - no second COUNT(*) of the whole table beside the filtered count ("N of M": Django counts
      both unless told not to);
    - no facet counts ("显示计数": a count per filter value over the whole table, 0.6–1.4 s at
      1M rows);
    - with ``exact_search``, the search finds the whole term in ``search_fields`` exactly, each
      an index look-up (a "contains" search reads every row); a field across a relation is
      matched in a subquery on the related table, never a join of the list's table to all of
      it."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    exact_search = True

    def get_search_results(self, request, queryset, search_term):
        if not self.exact_search:
            return super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term or not self.get_search_fields(request):
            return queryset, False
        found = Q()
        for path in self.get_search_fields(request):
            found |= _exactly(queryset.model, path, term)
        return queryset.filter(found), False


def _exactly(model, path: str, term: str) -> Q:
    """``path`` equals ``term``; ``relation__field`` as ``relation IN (SELECT pk ... )``."""
    relation, _sep, rest = path.partition("__")
    if not rest:
        return Q(**{path: term})
    related = model._meta.get_field(relation).related_model
    return Q(**{f"{relation}__in": related._base_manager.filter(_exactly(related, rest, term))})


class ChosenValueFilter(admin.SimpleListFilter):
    """A list filter whose chosen value narrows the list even when it has no choices to show.
    Django applies only filters with output: ``?batch=<a batch that is gone>`` would otherwise
    list every row (and an action on "all" act on every row), not none."""

    def has_output(self):
        return bool(self.lookup_choices) or self.value() is not None


class DateRangeFilter(admin.ListFilter):
    """Between two days, both included (local time): two date inputs in a small GET form that
    keeps the other filters. Beside Django's presets on the same field, it replaces the date
    drill-down (``date_hierarchy``), whose links cost a DISTINCT over the whole table on every
    view. Subclasses name the ``field``, the ``title`` and the two parameters."""

    field = ""
    start_param, end_param = "", ""
    template = "admin/date_range_filter.html"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.values = {}
        for name in (self.start_param, self.end_param):
            if name in params:
                value = params.pop(name)
                self.values[name] = value[-1] if isinstance(value, list) else value
        self.used_parameters = dict(self.values)

    def has_output(self):
        return True

    def expected_parameters(self):
        return [self.start_param, self.end_param]

    def queryset(self, request, queryset):
        bounds = {}
        for name, value in self.values.items():
            if not value:
                continue
            try:
                day = datetime.date.fromisoformat(value)
            except ValueError:
                return queryset.none()  # a hand-edited address: nothing matches a bad date
            if name == self.end_param:
                day += datetime.timedelta(days=1)  # the end day is included
            moment = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
            lookup = "gte" if name == self.start_param else "lt"
            bounds[f"{self.field}__{lookup}"] = moment
        return queryset.filter(**bounds)

    def choices(self, changelist):
        """One "choice": what the form needs (the other filters as hidden fields)."""
        others = QueryDict(
            changelist.get_query_string(remove=[self.start_param, self.end_param, "p"])[1:]
        )
        yield {
            "selected": bool(self.values),
            "start": self.values.get(self.start_param, ""),
            "end": self.values.get(self.end_param, ""),
            "start_param": self.start_param,
            "end_param": self.end_param,
            "hidden": [(name, value) for name in others for value in others.getlist(name)],
            "clear_query_string": changelist.get_query_string(
                remove=[self.start_param, self.end_param, "p"]
            ),
        }


def date_range_filter(field: str, title, prefix: str) -> type[DateRangeFilter]:
    """A ``DateRangeFilter`` on ``field``, its parameters ``<prefix>_from`` and ``<prefix>_to``."""
    attrs = {"field": field, "title": title, "start_param": f"{prefix}_from"}
    attrs["end_param"] = f"{prefix}_to"
    return type(f"{prefix.title()}RangeFilter", (DateRangeFilter,), attrs)


def distinct_values(model, column: str, using: str | None = None) -> list:
    """The distinct values of an indexed column, in order, by a loose index scan: one index probe
    per value (a recursive query, PostgreSQL and SQLite alike), where ``SELECT DISTINCT`` reads
    every row (≈200 ms on 1M leads, on every view of a list that offers them)."""
    connection = connections[using or router.db_for_read(model)]
    table = connection.ops.quote_name(model._meta.db_table)
    col = connection.ops.quote_name(model._meta.get_field(column).column)
    sql = (
        f"WITH RECURSIVE seen(v) AS ("  # noqa: S608 - names from the model
        f" SELECT * FROM (SELECT {col} FROM {table} WHERE {col} IS NOT NULL"
        f" ORDER BY {col} LIMIT 1) first"
        f" UNION ALL SELECT (SELECT {col} FROM {table} WHERE {col} > seen.v ORDER BY {col}"
        f" LIMIT 1) FROM seen WHERE seen.v IS NOT NULL"
        f") SELECT v FROM seen WHERE v IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's every-value filter, its values found through the column's index
    (``distinct_values``) instead of a DISTINCT over the table. Needs a plain B-tree index on the
    column. Offers every value in the table (not only the rows the admin's queryset shows)."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        if "__" not in field_path:  # a related field's path keeps Django's query
            self.lookup_choices = distinct_values(model, field.name)


def _without(fieldsets, name: str) -> list:
    return [
        (title, {**options, "fields": [f for f in options["fields"] if f != name]})
        for title, options in fieldsets
    ]


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    """Django's user admin within core.accounts' rule: who is not a superuser is offered only
    what they may grant, and may change (or reset the password of) only users below them."""

    actions = [reset_two_factor, unlock_sign_in]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        return fieldsets if request.user.is_superuser else _without(fieldsets, "is_superuser")

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "user_permissions":
            kwargs["queryset"] = accounts.grantable_permissions(request.user)
        elif db_field.name == "groups":
            kwargs["queryset"] = accounts.assignable_groups(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_user(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_user(request.user, obj))


@admin.register(Group)
class GroupAdmin(auth_admin.GroupAdmin):
    """A group is a bundle of rights: the same rule as for users, and never one's own group."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "permissions":
            kwargs["queryset"] = accounts.grantable_permissions(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_group(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or accounts.may_manage_group(request.user, obj))
