"""Jinan's organisation network as plain data (demo seed).

City 370100 济南市 → 12 county-level units (10 districts, 2 counties) plus the
high-tech zone 370176 (an NBS statistical code, run as a district-level unit)
→ 164 township-level units (132 街道, 29 镇, 3 other), copied from the NBS
统计用区划代码 2022 edition (research/domain_cn.md Appendix A).

Community and village names below township level are generated: the real
village-level list was not available, so ``communities_for`` makes up
plausible, deterministic names and NBS-style 12-digit codes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import product
from typing import Literal

from relief_pwa.core.enums import AreaType

CITY_CODE = "370100"
CITY_NAME = "济南市"

StreetKind = Literal["street", "town", "other"]
DistrictKind = Literal["district", "county", "zone"]

# NBS village-level codes: 001-199 residents' committees (社区),
# 200-399 villagers' committees (村); real village codes start at 201.
COMMUNITY_CODE_FIRST = 1
COMMUNITY_CODE_LAST = 199
VILLAGE_CODE_FIRST = 201
VILLAGE_CODE_LAST = 499
MAX_COMMUNITIES = COMMUNITY_CODE_LAST - COMMUNITY_CODE_FIRST + 1
MAX_VILLAGES = VILLAGE_CODE_LAST - VILLAGE_CODE_FIRST + 1


@dataclass(frozen=True)
class StreetUnit:
    """A township-level unit: 街道 (street), 镇 (town) or other (开发区 etc.)."""

    code: str  # 9 digits: county code + 3
    name: str
    kind: StreetKind


@dataclass(frozen=True)
class DistrictUnit:
    """A county-level unit with its service centre."""

    code: str  # 6 digits
    name: str
    kind: DistrictKind
    area_type_default: AreaType
    centre_address: str
    hotline: str
    streets: tuple[StreetUnit, ...]


@dataclass(frozen=True)
class CommunitySeed:
    """A generated community (社区) or village (村) under a township unit."""

    code: str  # 12 digits: street code + 3
    name: str
    area_type: AreaType


# Centre addresses and hotlines are DEMO PLACEHOLDERS, not real offices or
# numbers: the roads are generic names and the hotlines are 0531-869 + the
# last five digits of the district code.
DISTRICTS: tuple[DistrictUnit, ...] = (
    DistrictUnit(
        code="370102",
        name="历下区",
        kind="district",
        area_type_default=AreaType.URBAN,
        centre_address="历下区惠民路101号 历下区阳光救助服务中心",
        hotline="0531-86970102",
        streets=(
            StreetUnit("370102001", "解放路街道", "street"),
            StreetUnit("370102002", "千佛山街道", "street"),
            StreetUnit("370102003", "趵突泉街道", "street"),
            StreetUnit("370102004", "泉城路街道", "street"),
            StreetUnit("370102005", "大明湖街道", "street"),
            StreetUnit("370102006", "东关街道", "street"),
            StreetUnit("370102007", "文东街道", "street"),
            StreetUnit("370102008", "建新街道", "street"),
            StreetUnit("370102009", "甸柳街道", "street"),
            StreetUnit("370102010", "燕山街道", "street"),
            StreetUnit("370102011", "姚家街道", "street"),
            StreetUnit("370102012", "龙洞街道", "street"),
            StreetUnit("370102013", "智远街道", "street"),
        ),
    ),
    DistrictUnit(
        code="370103",
        name="市中区",
        kind="district",
        area_type_default=AreaType.URBAN,
        centre_address="市中区民生路88号 市中区阳光救助服务中心",
        hotline="0531-86970103",
        streets=(
            StreetUnit("370103002", "大观园街道", "street"),
            StreetUnit("370103003", "杆石桥街道", "street"),
            StreetUnit("370103004", "四里村街道", "street"),
            StreetUnit("370103006", "魏家庄街道", "street"),
            StreetUnit("370103008", "二七街道", "street"),
            StreetUnit("370103009", "七里山街道", "street"),
            StreetUnit("370103010", "六里山街道", "street"),
            StreetUnit("370103012", "舜玉路街道", "street"),
            StreetUnit("370103014", "泺源街道", "street"),
            StreetUnit("370103015", "王官庄街道", "street"),
            StreetUnit("370103016", "舜耕街道", "street"),
            StreetUnit("370103017", "白马山街道", "street"),
            StreetUnit("370103018", "七贤街道", "street"),
            StreetUnit("370103019", "十六里河街道", "street"),
            StreetUnit("370103020", "兴隆街道", "street"),
            StreetUnit("370103021", "党家街道", "street"),
            StreetUnit("370103022", "陡沟街道", "street"),
        ),
    ),
    DistrictUnit(
        code="370104",
        name="槐荫区",
        kind="district",
        area_type_default=AreaType.URBAN,
        centre_address="槐荫区阳光路66号 槐荫区阳光救助服务中心",
        hotline="0531-86970104",
        streets=(
            StreetUnit("370104001", "振兴街街道", "street"),
            StreetUnit("370104002", "中大槐树街道", "street"),
            StreetUnit("370104003", "道德街街道", "street"),
            StreetUnit("370104004", "西市场街道", "street"),
            StreetUnit("370104005", "五里沟街道", "street"),
            StreetUnit("370104006", "营市街街道", "street"),
            StreetUnit("370104007", "青年公园街道", "street"),
            StreetUnit("370104008", "南辛庄街道", "street"),
            StreetUnit("370104009", "段店北路街道", "street"),
            StreetUnit("370104010", "张庄路街道", "street"),
            StreetUnit("370104011", "匡山街道", "street"),
            StreetUnit("370104012", "美里湖街道", "street"),
            StreetUnit("370104013", "腊山街道", "street"),
            StreetUnit("370104014", "兴福街道", "street"),
            StreetUnit("370104015", "玉清湖街道", "street"),
            StreetUnit("370104016", "吴家堡街道", "street"),
        ),
    ),
    DistrictUnit(
        code="370105",
        name="天桥区",
        kind="district",
        area_type_default=AreaType.URBAN,
        centre_address="天桥区和谐路18号 天桥区阳光救助服务中心",
        hotline="0531-86970105",
        streets=(
            StreetUnit("370105001", "无影山街道", "street"),
            StreetUnit("370105003", "天桥东街街道", "street"),
            StreetUnit("370105004", "北村街道", "street"),
            StreetUnit("370105005", "南村街道", "street"),
            StreetUnit("370105006", "堤口路街道", "street"),
            StreetUnit("370105007", "北坦街道", "street"),
            StreetUnit("370105009", "制锦市街道", "street"),
            StreetUnit("370105010", "宝华街道", "street"),
            StreetUnit("370105011", "官扎营街道", "street"),
            StreetUnit("370105012", "纬北路街道", "street"),
            StreetUnit("370105013", "药山街道", "street"),
            StreetUnit("370105014", "北园街道", "street"),
            StreetUnit("370105015", "泺口街道", "street"),
            StreetUnit("370105016", "桑梓店街道", "street"),
            StreetUnit("370105017", "大桥街道", "street"),
        ),
    ),
    DistrictUnit(
        code="370112",
        name="历城区",
        kind="district",
        area_type_default=AreaType.URBAN,
        centre_address="历城区幸福路209号 历城区阳光救助服务中心",
        hotline="0531-86970112",
        streets=(
            StreetUnit("370112001", "山大路街道", "street"),
            StreetUnit("370112002", "洪家楼街道", "street"),
            StreetUnit("370112003", "东风街道", "street"),
            StreetUnit("370112004", "全福街道", "street"),
            StreetUnit("370112007", "华山街道", "street"),
            StreetUnit("370112008", "荷花路街道", "street"),
            StreetUnit("370112009", "王舍人街道", "street"),
            StreetUnit("370112010", "鲍山街道", "street"),
            StreetUnit("370112011", "郭店街道", "street"),
            StreetUnit("370112012", "唐冶街道", "street"),
            StreetUnit("370112013", "港沟街道", "street"),
            StreetUnit("370112016", "董家街道", "street"),
            StreetUnit("370112017", "彩石街道", "street"),
            StreetUnit("370112018", "仲宫街道", "street"),
            StreetUnit("370112019", "柳埠街道", "street"),
            StreetUnit("370112020", "唐王街道", "street"),
            StreetUnit("370112021", "西营街道", "street"),
        ),
    ),
    DistrictUnit(
        code="370113",
        name="长清区",
        kind="district",
        area_type_default=AreaType.RURAL,
        centre_address="长清区民安路36号 长清区阳光救助服务中心",
        hotline="0531-86970113",
        streets=(
            StreetUnit("370113001", "文昌街道", "street"),
            StreetUnit("370113002", "崮云湖街道", "street"),
            StreetUnit("370113003", "平安街道", "street"),
            StreetUnit("370113004", "五峰山街道", "street"),
            StreetUnit("370113005", "归德街道", "street"),
            StreetUnit("370113006", "张夏街道", "street"),
            StreetUnit("370113007", "万德街道", "street"),
            StreetUnit("370113008", "孝里街道", "street"),
            StreetUnit("370113107", "马山镇", "town"),
            StreetUnit("370113108", "双泉镇", "town"),
        ),
    ),
    DistrictUnit(
        code="370114",
        name="章丘区",
        kind="district",
        area_type_default=AreaType.RURAL,
        centre_address="章丘区惠民路128号 章丘区阳光救助服务中心",
        hotline="0531-86970114",
        streets=(
            StreetUnit("370114001", "明水街道", "street"),
            StreetUnit("370114002", "双山街道", "street"),
            StreetUnit("370114003", "枣园街道", "street"),
            StreetUnit("370114004", "龙山街道", "street"),
            StreetUnit("370114005", "埠村街道", "street"),
            StreetUnit("370114006", "圣井街道", "street"),
            StreetUnit("370114007", "普集街道", "street"),
            StreetUnit("370114008", "绣惠街道", "street"),
            StreetUnit("370114009", "相公庄街道", "street"),
            StreetUnit("370114010", "文祖街道", "street"),
            StreetUnit("370114011", "官庄街道", "street"),
            StreetUnit("370114012", "高官寨街道", "street"),
            StreetUnit("370114013", "白云湖街道", "street"),
            StreetUnit("370114014", "宁家埠街道", "street"),
            StreetUnit("370114015", "曹范街道", "street"),
            StreetUnit("370114016", "刁镇街道", "street"),
            StreetUnit("370114017", "黄河街道", "street"),
            StreetUnit("370114101", "垛庄镇", "town"),
        ),
    ),
    DistrictUnit(
        code="370115",
        name="济阳区",
        kind="district",
        area_type_default=AreaType.RURAL,
        centre_address="济阳区民生路56号 济阳区阳光救助服务中心",
        hotline="0531-86970115",
        streets=(
            StreetUnit("370115001", "济阳街道", "street"),
            StreetUnit("370115002", "济北街道", "street"),
            StreetUnit("370115003", "崔寨街道", "street"),
            StreetUnit("370115004", "孙耿街道", "street"),
            StreetUnit("370115005", "回河街道", "street"),
            StreetUnit("370115006", "太平街道", "street"),
            StreetUnit("370115007", "垛石街道", "street"),
            StreetUnit("370115008", "曲堤街道", "street"),
            StreetUnit("370115104", "仁风镇", "town"),
            StreetUnit("370115110", "新市镇", "town"),
        ),
    ),
    DistrictUnit(
        code="370116",
        name="莱芜区",
        kind="district",
        area_type_default=AreaType.RURAL,
        centre_address="莱芜区阳光路9号 莱芜区阳光救助服务中心",
        hotline="0531-86970116",
        streets=(
            StreetUnit("370116001", "凤城街道", "street"),
            StreetUnit("370116002", "张家洼街道", "street"),
            StreetUnit("370116003", "高庄街道", "street"),
            StreetUnit("370116004", "鹏泉街道", "street"),
            StreetUnit("370116005", "口镇街道", "street"),
            StreetUnit("370116006", "羊里街道", "street"),
            StreetUnit("370116007", "方下街道", "street"),
            StreetUnit("370116008", "雪野街道", "street"),
            StreetUnit("370116103", "牛泉镇", "town"),
            StreetUnit("370116104", "苗山镇", "town"),
            StreetUnit("370116106", "大王庄镇", "town"),
            StreetUnit("370116107", "寨里镇", "town"),
            StreetUnit("370116108", "杨庄镇", "town"),
            StreetUnit("370116109", "茶业口镇", "town"),
            StreetUnit("370116110", "和庄镇", "town"),
        ),
    ),
    DistrictUnit(
        code="370117",
        name="钢城区",
        kind="district",
        area_type_default=AreaType.RURAL,
        centre_address="钢城区和谐路77号 钢城区阳光救助服务中心",
        hotline="0531-86970117",
        streets=(
            StreetUnit("370117001", "艾山街道", "street"),
            StreetUnit("370117002", "里辛街道", "street"),
            StreetUnit("370117003", "汶源街道", "street"),
            StreetUnit("370117004", "颜庄街道", "street"),
            StreetUnit("370117005", "辛庄街道", "street"),
            StreetUnit("370117400", "棋山国家森林公园", "other"),
            StreetUnit("370117401", "南部新城建设服务中心", "other"),
        ),
    ),
    DistrictUnit(
        code="370124",
        name="平阴县",
        kind="county",
        area_type_default=AreaType.RURAL,
        centre_address="平阴县幸福路12号 平阴县阳光救助服务中心",
        hotline="0531-86970124",
        streets=(
            StreetUnit("370124001", "榆山街道", "street"),
            StreetUnit("370124002", "锦水街道", "street"),
            StreetUnit("370124102", "东阿镇", "town"),
            StreetUnit("370124103", "孝直镇", "town"),
            StreetUnit("370124104", "孔村镇", "town"),
            StreetUnit("370124105", "洪范池镇", "town"),
            StreetUnit("370124106", "玫瑰镇", "town"),
            StreetUnit("370124107", "安城镇", "town"),
        ),
    ),
    DistrictUnit(
        code="370126",
        name="商河县",
        kind="county",
        area_type_default=AreaType.RURAL,
        centre_address="商河县民安路45号 商河县阳光救助服务中心",
        hotline="0531-86970126",
        streets=(
            StreetUnit("370126001", "许商街道", "street"),
            StreetUnit("370126101", "殷巷镇", "town"),
            StreetUnit("370126102", "怀仁镇", "town"),
            StreetUnit("370126104", "龙桑寺镇", "town"),
            StreetUnit("370126105", "郑路镇", "town"),
            StreetUnit("370126106", "贾庄镇", "town"),
            StreetUnit("370126107", "玉皇庙镇", "town"),
            StreetUnit("370126108", "白桥镇", "town"),
            StreetUnit("370126109", "孙集镇", "town"),
            StreetUnit("370126110", "韩庙镇", "town"),
            StreetUnit("370126111", "沙河镇", "town"),
            StreetUnit("370126112", "张坊镇", "town"),
            StreetUnit("370126400", "商河经济开发区", "other"),
        ),
    ),
    DistrictUnit(
        code="370176",
        name="济南高新技术产业开发区",
        kind="zone",
        area_type_default=AreaType.URBAN,
        centre_address="高新区惠民路300号 济南高新技术产业开发区阳光救助服务中心",
        hotline="0531-86970176",
        streets=(
            StreetUnit("370176001", "舜华路街道", "street"),
            StreetUnit("370176002", "孙村街道", "street"),
            StreetUnit("370176003", "巨野河街道", "street"),
            StreetUnit("370176004", "遥墙街道", "street"),
            StreetUnit("370176005", "临港街道", "street"),
        ),
    ),
)

STREETS: tuple[StreetUnit, ...] = tuple(street for district in DISTRICTS for street in district.streets)

_DISTRICTS_BY_CODE: dict[str, DistrictUnit] = {district.code: district for district in DISTRICTS}
_STREETS_BY_CODE: dict[str, StreetUnit] = {street.code: street for street in STREETS}


def district_by_code(code: str) -> DistrictUnit | None:
    """Look up a county-level unit by its 6-digit code.

    Args:
        code: e.g. ``"370102"``.

    Returns:
        The unit, or None when the code is not one of Jinan's 13 units.
    """
    return _DISTRICTS_BY_CODE.get(code)


def street_by_code(code: str) -> StreetUnit | None:
    """Look up a township-level unit by its 9-digit code.

    Args:
        code: e.g. ``"370102001"``.

    Returns:
        The unit, or None when the code is unknown.
    """
    return _STREETS_BY_CODE.get(code)


def district_of(street: StreetUnit) -> DistrictUnit:
    """Return the county-level unit a township-level unit belongs to.

    Args:
        street: One of :data:`STREETS`.

    Returns:
        Its district, county or zone.

    Raises:
        KeyError: If the street's code prefix is not a known unit.
    """
    return _DISTRICTS_BY_CODE[street.code[:6]]


def community_code(street_code: str, index: int, *, village: bool = False) -> str:
    """Build the NBS-style 12-digit code of a community or village.

    Args:
        street_code: 9-digit township code.
        index: 0-based position among the street's communities (or among its
            villages when ``village`` is true).
        village: Villages are numbered from 201, communities from 001.

    Returns:
        ``street_code`` + 3 digits: 001-199 for communities, 201-499 for
        villages.

    Raises:
        ValueError: If the street code is malformed or the index is out of
            range.
    """
    if len(street_code) != 9 or not (street_code.isascii() and street_code.isdigit()):
        raise ValueError(f"street code must be 9 digits, got {street_code!r}")
    first, capacity = (
        (VILLAGE_CODE_FIRST, MAX_VILLAGES) if village else (COMMUNITY_CODE_FIRST, MAX_COMMUNITIES)
    )
    if not 0 <= index < capacity:
        raise ValueError(f"index must be 0-{capacity - 1}, got {index}")
    return f"{street_code}{first + index:03d}"


def communities_for(street: StreetUnit, count: int) -> list[CommunitySeed]:
    """Generate ``count`` plausible communities/villages for a township unit.

    Towns get villages (…村); streets and "other" units in urban districts
    get communities (…社区); those in rural districts and counties get about
    a quarter communities (rounded up) and the rest villages. The result
    depends only on the street's code and ``count``.

    Args:
        street: The township-level unit.
        count: How many to generate (0 allowed).

    Returns:
        Communities first (codes 001…), then villages (codes 201…); names are
        unique within the street.

    Raises:
        ValueError: If ``count`` is negative or exceeds the code ranges.
    """
    if count < 0:
        raise ValueError(f"count must not be negative, got {count}")
    community_count = _community_share(street, count)
    village_count = count - community_count
    if community_count > MAX_COMMUNITIES or village_count > MAX_VILLAGES:
        raise ValueError(f"too many communities for one street: {count}")

    seeds = [
        CommunitySeed(community_code(street.code, i), name, AreaType.URBAN)
        for i, name in enumerate(_community_names(street, community_count))
    ]
    seeds += [
        CommunitySeed(community_code(street.code, i, village=True), name, AreaType.RURAL)
        for i, name in enumerate(_village_names(street, village_count))
    ]
    return seeds


def community_names_for(street: StreetUnit, count: int) -> list[str]:
    """Names only of :func:`communities_for` (same order, same rules).

    Args:
        street: The township-level unit.
        count: How many names to generate.

    Returns:
        ``count`` unique, deterministic names ending in 社区 or 村.
    """
    return [seed.name for seed in communities_for(street, count)]


# Stems for generated names: common, unremarkable place-name words.
_COMMUNITY_STEMS: tuple[str, ...] = (
    "和平", "幸福", "建设", "友谊", "文化", "新华", "光明", "胜利", "团结", "振兴",
    "安康", "康乐", "和谐", "民主", "兴隆", "繁荣", "育英", "青年", "朝阳", "东方",
    "锦绣", "丰收", "长青", "永安", "福安", "平安", "新民", "仁和", "阳光", "春晖",
    "翠园", "桂花", "紫荆", "玉兰", "海棠", "碧水", "清泉", "泉景", "明湖", "华兴",
)  # fmt: skip
_COMMUNITY_VARIANTS: tuple[str, ...] = ("", "东", "西", "南", "北", "新村", "花园", "苑", "里")
_VILLAGE_SURNAMES: tuple[str, ...] = (
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴",
    "徐", "孙", "朱", "马", "胡", "郭", "林", "何", "高", "梁",
    "郑", "罗", "宋", "谢", "唐", "韩", "曹", "许", "邓", "冯",
    "于", "董", "吕", "魏", "蒋", "田", "杜", "丁", "崔", "范",
)  # fmt: skip
_VILLAGE_PATTERNS: tuple[str, ...] = (
    "家庄", "庄", "集", "家洼", "家峪", "官庄", "家楼", "家店",
    "家岭", "家湾", "家屯", "家寨", "家坡", "家河",
)  # fmt: skip


def _community_share(street: StreetUnit, count: int) -> int:
    if street.kind == "town":
        return 0
    if district_of(street).area_type_default is AreaType.URBAN:
        return count
    return (count + 3) // 4


def _community_names(street: StreetUnit, count: int) -> list[str]:
    rng = random.Random(f"community:{street.code}")
    stems = list(_COMMUNITY_STEMS)
    rng.shuffle(stems)
    # The first community carries the street's own name, as is common.
    base = street.name.removesuffix("街道").removesuffix("镇") if street.kind != "other" else ""
    candidates = [f"{base}社区"] if base else []
    candidates += [f"{stem}{variant}社区" for variant, stem in product(_COMMUNITY_VARIANTS, stems)]
    return _unique_prefix(candidates, count)


def _village_names(street: StreetUnit, count: int) -> list[str]:
    rng = random.Random(f"village:{street.code}")
    candidates = [
        f"{surname}{pattern}村" for surname, pattern in product(_VILLAGE_SURNAMES, _VILLAGE_PATTERNS)
    ]
    rng.shuffle(candidates)
    return _unique_prefix(candidates, count)


def _unique_prefix(candidates: list[str], count: int) -> list[str]:
    seen: dict[str, None] = {}  # insertion-ordered set
    if count == 0:
        return []
    for name in candidates:
        seen.setdefault(name, None)
        if len(seen) == count:
            break
    if len(seen) < count:
        raise ValueError(f"cannot generate {count} distinct names")
    return list(seen)
