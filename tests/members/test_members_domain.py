"""Pure domain rules: no database, no network."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from kopano.errors import BadUserInput, ErrorCode
from members.domain import model
from members.domain import values as v

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def field_of(exc: pytest.ExceptionInfo[BadUserInput]) -> str | None:
    assert exc.value.code is ErrorCode.BAD_USER_INPUT
    return exc.value.field


class TestEmail:
    def test_domain_is_lowercased_and_whitespace_trimmed(self) -> None:
        assert v.normalise_email("  Thabo.Mokoena@Example.CO.ZA ") == "Thabo.Mokoena@example.co.za"

    def test_case_insensitive_key(self) -> None:
        assert v.email_key("Thabo@Example.com") == v.email_key("thabo@example.COM")

    @pytest.mark.parametrize(
        "raw", ["", "   ", "no-at-sign", "a@", "@b.com", "a@b", "a b@c.com", "x" * 250 + "@e.com"]
    )
    def test_malformed_addresses_are_refused(self, raw: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            v.normalise_email(raw)
        assert field_of(exc) == "email"


class TestPassword:
    def test_accepts_a_long_passphrase(self) -> None:
        assert v.check_password("correct horse battery", email="a@b.com")

    @pytest.mark.parametrize("raw", ["short", "elevenchars", "a" * 129, " " * 20, "a" * 20])
    def test_refuses_weak_or_oversized(self, raw: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            v.check_password(raw, email="someone@example.com")
        assert field_of(exc) == "password"

    def test_length_boundaries(self) -> None:
        assert v.check_password("abcdefghijk1", email=None)  # 12
        assert v.check_password("ab" * 64, email=None)  # 128
        with pytest.raises(BadUserInput):
            v.check_password("abcdefghij1", email=None)  # 11

    def test_refuses_the_email_as_password(self) -> None:
        with pytest.raises(BadUserInput):
            v.check_password("Lineo.Letsie@Example.org", email="lineo.letsie@example.org")
        with pytest.raises(BadUserInput):
            v.check_password("lineo.letsie1", email="lineo.letsie1@example.org")


class TestCountryPhoneDistrict:
    @pytest.mark.parametrize(("raw", "code"), [("ls", "LS"), (" ZA ", "ZA"), ("gb", "GB")])
    def test_known_countries(self, raw: str, code: str) -> None:
        assert v.normalise_country(raw) == code

    @pytest.mark.parametrize("raw", ["XX", "ZZ", "LSO", "", "1A", "UK"])
    def test_unknown_countries(self, raw: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            v.normalise_country(raw)
        assert field_of(exc) == "countryOfResidence"

    @pytest.mark.parametrize(
        ("raw", "e164"),
        [
            ("+266 5012 3456", "+26650123456"),
            ("+266-2231-2345", "+26622312345"),
            ("+27 82 123 4567", "+27821234567"),
            ("+44 7911 123456", "+447911123456"),
        ],
    )
    def test_phones_become_e164(self, raw: str, e164: str) -> None:
        assert v.normalise_phone(raw) == e164

    @pytest.mark.parametrize("raw", ["50123456", "+266 123", "+999 1234 5678", "phone", "+27 82"])
    def test_bad_phones(self, raw: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            v.normalise_phone(raw)
        assert field_of(exc) == "phone"

    def test_phone_is_optional(self) -> None:
        assert v.normalise_phone(None) is None
        assert v.normalise_phone("  ") is None

    def test_ten_districts(self) -> None:
        assert len(v.LESOTHO_DISTRICTS) == 10
        assert v.normalise_district("ls-a") == "LS-A"
        assert v.normalise_district("LS-K") == "LS-K"
        for bad in ("LS-I", "LS-L", "ZA-GP", "Maseru"):
            with pytest.raises(BadUserInput) as exc:
                v.normalise_district(bad)
            assert field_of(exc) == "districtOfOrigin"


class TestTagsAndLanguages:
    def test_skill_tags_are_normalised_and_deduplicated(self) -> None:
        assert v.normalise_tags(
            ["  Project Management ", "project_management", "C++", "Café", "node.js"]
        ) == ("project-management", "c++", "cafe", "node.js")

    def test_empty_tag_refused(self) -> None:
        with pytest.raises(BadUserInput) as exc:
            v.normalise_tags(["!!!"])
        assert field_of(exc) == "skills"

    def test_too_many_skills(self) -> None:
        with pytest.raises(BadUserInput):
            v.normalise_tags([f"s{i}" for i in range(v.MAX_SKILLS + 1)])

    def test_languages(self) -> None:
        assert v.normalise_languages(["ST", "en", "st", "zu"]) == ("st", "en", "zu")
        with pytest.raises(BadUserInput) as exc:
            v.normalise_languages(["sesotho"])
        assert field_of(exc) == "languages"


def registration(**overrides: object) -> model.RegistrationInput:
    data: dict[str, object] = {
        "email": "Palesa@Example.com",
        "password": "a long enough passphrase",
        "full_name": "  Palesa   Mohapi ",
        "country_of_residence": "za",
        "accept_terms": True,
        "accept_data_processing": True,
        "phone": "+27 82 123 4567",
        "district_of_origin": "ls-d",
    }
    data.update(overrides)
    return model.RegistrationInput(**data)  # type: ignore[arg-type]


class TestRegistration:
    def test_valid_registration_is_normalised(self) -> None:
        reg = model.validate_registration(registration(), current_consent_version="2026-01")
        assert reg.email == "Palesa@example.com"
        assert reg.full_name == "Palesa Mohapi"
        assert reg.country_of_residence == "ZA"
        assert reg.phone == "+27821234567"
        assert reg.district_of_origin == "LS-D"
        member = model.new_member(reg, member_id=uuid.uuid4(), password_hash="h", now=NOW)
        assert member.roles == frozenset({model.Role.MEMBER})
        assert member.can_log_in

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"accept_terms": False}, "acceptTerms"),
            ({"accept_data_processing": False}, "acceptDataProcessing"),
            ({"consent_version": "2020-01"}, "consentVersion"),
            ({"full_name": "   "}, "fullName"),
            ({"email": "nope"}, "email"),
            ({"country_of_residence": "XX"}, "countryOfResidence"),
        ],
    )
    def test_each_rule_names_its_field(self, overrides: dict[str, object], field: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            model.validate_registration(
                registration(**overrides), current_consent_version="2026-01"
            )
        assert field_of(exc) == field

    def test_consents_cover_terms_and_processing(self) -> None:
        consents = model.consents_for("2026-01", NOW)
        assert {c.kind for c in consents} == {v.ConsentKind.TERMS, v.ConsentKind.DATA_PROCESSING}
        assert all(c.version == "2026-01" and c.granted_at == NOW for c in consents)


def a_member() -> model.Member:
    reg = model.validate_registration(registration(), current_consent_version="1")
    return model.new_member(reg, member_id=uuid.uuid4(), password_hash="h", now=NOW)


class TestProfile:
    def test_partial_update_changes_only_given_fields(self) -> None:
        member = a_member()
        later = datetime(2026, 2, 1, tzinfo=UTC)
        changes = model.validate_profile_changes(
            {
                "occupation": " Nurse ",
                "skills": ["Nursing", "nursing", "First Aid"],
                "sector": "health",
            }
        )
        assert member.apply_profile(changes, later)
        assert member.profile.occupation == "Nurse"
        assert member.profile.skills == ("nursing", "first-aid")
        assert member.profile.sector is v.Sector.HEALTH
        assert member.phone == "+27821234567"
        assert member.updated_at == later
        assert member.version == 2

    def test_no_op_update_keeps_version(self) -> None:
        member = a_member()
        assert not member.apply_profile(model.validate_profile_changes({}), NOW)
        assert member.version == 1

    def test_null_clears_optional_fields(self) -> None:
        member = a_member()
        member.apply_profile(model.validate_profile_changes({"phone": None, "city": "Leeds"}), NOW)
        assert member.phone is None
        assert member.profile.city == "Leeds"

    @pytest.mark.parametrize(
        ("raw", "field"),
        [
            ({"sector": "ASTROLOGY"}, "sector"),
            ({"bio": "x" * (v.BIO_MAX_LENGTH + 1)}, "bio"),
            ({"full_name": None}, "fullName"),
            ({"photo_url": "javascript:alert(1)"}, "photoUrl"),
            ({"years_abroad": -1}, "yearsAbroad"),
            ({"languages": ["xx"]}, "languages"),
        ],
    )
    def test_bad_profile_input(self, raw: dict[str, object], field: str) -> None:
        with pytest.raises(BadUserInput) as exc:
            model.validate_profile_changes(raw)
        assert field_of(exc) == field

    def test_profile_event_has_no_personal_data(self) -> None:
        member = a_member()
        data = member.profile_event_data()
        flat = repr(data)
        assert member.email not in flat
        assert "Palesa" not in flat
        assert "+2782" not in flat
        assert data["memberId"] == str(member.id)
