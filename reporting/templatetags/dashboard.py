from django import template

from core.templatetags.money import yuan
from reporting.admin import dashboard_context, may_see_dashboard

register = template.Library()


@register.inclusion_tag("reporting/dashboard.html", takes_context=True)
def dashboard(context):
    """The dashboard for who may see leads; nothing for anyone else."""
    request = context["request"]
    if not may_see_dashboard(request.user):
        return {"shown": False}
    return {"shown": True, **dashboard_context(request)}


@register.filter
def percent(share):
    """0.1234 → 12.3%; no share (nothing to divide by) → —."""
    return "—" if share is None else f"{100 * share:.1f}%"


register.filter("yuan", yuan)  # core's, for the dashboard's own templates


@register.filter
def cell_text(cell):
    """A table cell's number as shown: an amount in yuan, a count as it is."""
    return yuan(cell.value) if cell.money else cell.value
