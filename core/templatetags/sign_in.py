from django import template

from core.two_factor import two_factor_required as _two_factor_required

register = template.Library()


@register.filter
def two_factor_required(user) -> bool:
    """Whether ``user`` must keep a second factor (core.two_factor)."""
    return _two_factor_required(user)
