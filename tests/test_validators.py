"""Mainland mobile numbers and GB 11643 ID numbers: what is normalised, what is refused and why."""

import pytest
from django.core.exceptions import ValidationError

from leads.validators import (
    normalize_id_number,
    normalize_phone,
    validate_id_number,
    validate_mobile,
)


@pytest.mark.parametrize(
    "typed",
    [
        "18698574854",
        " 186 9857 4854 ",
        "186-9857-4854",
        "+86 18698574854",
        "008618698574854",
        "8618698574854",
        "１８６９８５７４８５４",
    ],
)
def test_the_ways_a_mobile_number_is_typed_normalise_to_it(typed):
    phone = normalize_phone(typed)
    validate_mobile(phone)
    assert phone == "18698574854"


@pytest.mark.parametrize(
    "phone",
    [
        "12698574854",  # no mainland mobile prefix 12
        "1869857485",  # 10 digits
        "186985748541",  # 12 digits
        "18698574854\n",  # a trailing newline is not a number
        "١٨٦٩٨٥٧٤٨٥٤",  # Arabic-Indic digits: digits, but not ours
        "",
    ],
)
def test_anything_else_is_not_a_mobile_number(phone):
    with pytest.raises(ValidationError) as refused:
        validate_mobile(phone)
    assert refused.value.code == "invalid_mobile"


@pytest.mark.parametrize("id_number", ["11010519491231002X", "110105200002290013"])
def test_valid_id_numbers_pass(id_number):
    validate_id_number(id_number)


def test_an_id_number_is_normalised_to_half_width_upper_case():
    assert normalize_id_number(" １１０１０５１９４９１２３１００２x ") == "11010519491231002X"


@pytest.mark.parametrize(
    ("id_number", "code"),
    [
        ("11010519491231002", "invalid_id_length"),
        ("11010519491231002x", "invalid_id_format"),  # validated after normalising, not before
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "invalid_id_format"),
        ("110105200002290014", "invalid_id_checksum"),
        ("110105200102290010", "invalid_id_date"),  # 29 February 2001, check digit right
        ("110105189912310015", "invalid_id_date"),  # before 1900
    ],
)
def test_invalid_id_numbers_say_why(id_number, code):
    with pytest.raises(ValidationError) as refused:
        validate_id_number(id_number)
    assert refused.value.code == code
