from django import template

register = template.Library()


@register.filter
def yuan(amount):
    """Decimal("1234.5") → ¥1,234.50; nothing → —."""
    return "—" if amount is None else f"¥{amount:,.2f}"
