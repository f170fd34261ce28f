from __future__ import annotations

import re
from collections import Counter

import pytest

from relief_pwa.core.enums import AreaType
from relief_pwa.core.phone import normalise_phone
from relief_pwa.data import jinan
from relief_pwa.data.jinan import (
    CITY_CODE,
    CITY_NAME,
    DISTRICTS,
    STREETS,
    StreetUnit,
    communities_for,
    community_code,
    community_names_for,
    district_by_code,
    district_of,
    street_by_code,
)

# domain_cn.md §3.3: code → (name, kind, 街道, 镇, other).
EXPECTED_DISTRICTS: dict[str, tuple[str, str, int, int, int]] = {
    "370102": ("历下区", "district", 13, 0, 0),
    "370103": ("市中区", "district", 17, 0, 0),
    "370104": ("槐荫区", "district", 16, 0, 0),
    "370105": ("天桥区", "district", 15, 0, 0),
    "370112": ("历城区", "district", 17, 0, 0),
    "370113": ("长清区", "district", 8, 2, 0),
    "370114": ("章丘区", "district", 17, 1, 0),
    "370115": ("济阳区", "district", 8, 2, 0),
    "370116": ("莱芜区", "district", 8, 7, 0),
    "370117": ("钢城区", "district", 5, 0, 2),
    "370124": ("平阴县", "county", 2, 6, 0),
    "370126": ("商河县", "county", 1, 11, 1),
    "370176": ("济南高新技术产业开发区", "zone", 5, 0, 0),
}


def test_city() -> None:
    assert (CITY_CODE, CITY_NAME) == ("370100", "济南市")


def test_districts_match_research_table() -> None:
    assert len(DISTRICTS) == 13
    kinds = Counter(district.kind for district in DISTRICTS)
    assert kinds == {"district": 10, "county": 2, "zone": 1}
    for district in DISTRICTS:
        name, kind, streets, towns, other = EXPECTED_DISTRICTS[district.code]
        counts = Counter(street.kind for street in district.streets)
        assert (district.name, district.kind) == (name, kind)
        assert (counts["street"], counts["town"], counts["other"]) == (streets, towns, other), district.name


def test_township_totals() -> None:
    assert len(STREETS) == 164
    assert Counter(street.kind for street in STREETS) == {"street": 132, "town": 29, "other": 3}


def test_codes_unique_and_well_formed() -> None:
    district_codes = [district.code for district in DISTRICTS]
    street_codes = [street.code for street in STREETS]
    assert len(set(district_codes)) == len(district_codes)
    assert len(set(street_codes)) == len(street_codes)
    for district in DISTRICTS:
        assert re.fullmatch(r"3701\d\d", district.code)
        for street in district.streets:
            assert re.fullmatch(r"\d{9}", street.code)
            assert street.code.startswith(district.code)
            assert district_of(street) is district


def test_street_kind_agrees_with_code_range_and_name() -> None:
    # NBS: 街道 0xx, 镇 1xx, special units 4xx.
    for street in STREETS:
        suffix = street.code[6]
        if street.kind == "street":
            assert suffix == "0" and street.name.endswith("街道"), street
        elif street.kind == "town":
            assert suffix == "1" and street.name.endswith("镇"), street
        else:
            assert suffix == "4", street


@pytest.mark.parametrize(
    ("code", "name", "kind"),
    [
        ("370102001", "解放路街道", "street"),
        ("370103022", "陡沟街道", "street"),
        ("370114016", "刁镇街道", "street"),  # a 街道 despite 镇 in its name
        ("370116005", "口镇街道", "street"),
        ("370114101", "垛庄镇", "town"),
        ("370117401", "南部新城建设服务中心", "other"),
        ("370126400", "商河经济开发区", "other"),
        ("370176005", "临港街道", "street"),
    ],
)
def test_sample_units_copied_exactly(code: str, name: str, kind: str) -> None:
    assert street_by_code(code) == StreetUnit(code, name, kind)  # type: ignore[arg-type]


def test_lookups() -> None:
    district = district_by_code("370124")
    assert district is not None and district.name == "平阴县"
    assert district_by_code("370101") is None
    assert street_by_code("370102999") is None


def test_area_type_defaults() -> None:
    urban = {district.code for district in DISTRICTS if district.area_type_default is AreaType.URBAN}
    assert urban == {"370102", "370103", "370104", "370105", "370112", "370176"}


def test_service_centres_have_demo_contacts() -> None:
    for district in DISTRICTS:
        assert normalise_phone(district.hotline) == district.hotline
        assert district.hotline.startswith("0531-8")
        assert "阳光救助服务中心" in district.centre_address
    assert len({district.hotline for district in DISTRICTS}) == len(DISTRICTS)


# --- generated communities -------------------------------------------------


def test_community_code() -> None:
    assert community_code("370102001", 0) == "370102001001"
    assert community_code("370102001", 198) == "370102001199"
    assert community_code("370126101", 0, village=True) == "370126101201"
    assert community_code("370126101", 298, village=True) == "370126101499"


@pytest.mark.parametrize(
    ("street_code", "index", "village"),
    [("370102001", 199, False), ("370102001", -1, False), ("370126101", 299, True), ("37010200", 0, False)],
)
def test_community_code_rejects(street_code: str, index: int, village: bool) -> None:
    with pytest.raises(ValueError):
        community_code(street_code, index, village=village)


def test_urban_street_gets_communities() -> None:
    street = street_by_code("370102001")
    assert street is not None
    seeds = communities_for(street, 25)
    assert [seed.code for seed in seeds] == [community_code(street.code, i) for i in range(25)]
    assert all(seed.name.endswith("社区") and seed.area_type is AreaType.URBAN for seed in seeds)
    assert seeds[0].name == "解放路社区"


def test_town_gets_villages() -> None:
    street = street_by_code("370126101")
    assert street is not None
    seeds = communities_for(street, 30)
    assert [seed.code for seed in seeds] == [community_code(street.code, i, village=True) for i in range(30)]
    assert all(seed.name.endswith("村") and seed.area_type is AreaType.RURAL for seed in seeds)


def test_rural_district_street_mixes_communities_and_villages() -> None:
    street = street_by_code("370113001")
    assert street is not None
    seeds = communities_for(street, 10)
    kinds = [seed.area_type for seed in seeds]
    assert kinds == [AreaType.URBAN] * 3 + [AreaType.RURAL] * 7
    assert [seed.code[-3:] for seed in seeds] == ["001", "002", "003", *[str(201 + i) for i in range(7)]]


def test_generation_is_deterministic_unique_and_varies_by_street() -> None:
    for street in STREETS:
        names = community_names_for(street, 40)
        assert names == community_names_for(street, 40)
        assert len(set(names)) == 40
        if street.kind == "town" or district_of(street).area_type_default is AreaType.URBAN:
            assert community_names_for(street, 10) == names[:10]  # a larger count only appends
    first, second = STREETS[0], STREETS[1]
    assert community_names_for(first, 10)[1:] != community_names_for(second, 10)[1:]


def test_generation_capacity() -> None:
    urban = street_by_code("370102001")
    town = street_by_code("370126101")
    assert urban is not None and town is not None
    assert len({seed.code for seed in communities_for(urban, jinan.MAX_COMMUNITIES)}) == 199
    assert len({seed.name for seed in communities_for(town, jinan.MAX_VILLAGES)}) == 299
    assert communities_for(urban, 0) == []
    with pytest.raises(ValueError):
        communities_for(urban, jinan.MAX_COMMUNITIES + 1)
    with pytest.raises(ValueError):
        communities_for(town, -1)
