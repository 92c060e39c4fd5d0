from django import template

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
