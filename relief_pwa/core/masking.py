"""Masking (脱敏) of personal data for public notice boards and lists.

No national rule fixes the pattern; these follow the common conventions in
domain_cn.md §4: keep the surname and the last character of a Chinese name,
the first letter of each word of a Latin name, the first and last four digits
of a bank account, and only the coarse start of an address.
"""

from __future__ import annotations

import unicodedata

MASK = "*"

# Common two-character surnames (复姓), mostly from 百家姓 plus a few
# northern-dynasty ones still in use. A name starting with one of these keeps
# the whole compound surname visible.
COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳", "太史", "端木", "上官", "司马", "东方", "独孤", "南宫", "万俟", "闻人",
        "夏侯", "诸葛", "尉迟", "公羊", "赫连", "澹台", "皇甫", "宗政", "濮阳", "公冶",
        "太叔", "申屠", "公孙", "慕容", "仲孙", "钟离", "长孙", "宇文", "司徒", "鲜于",
        "司空", "闾丘", "子车", "亓官", "司寇", "巫马", "公西", "颛孙", "壤驷", "公良",
        "漆雕", "乐正", "宰父", "谷梁", "拓跋", "夹谷", "轩辕", "令狐", "段干", "百里",
        "呼延", "东郭", "南门", "羊舌", "微生", "公户", "公玉", "公仪", "梁丘", "公仲",
        "公上", "公门", "公山", "公坚", "左丘", "公伯", "西门", "公祖", "第五", "公乘",
        "贯丘", "公皙", "南荣", "东里", "东宫", "仲长", "子书", "子桑", "即墨", "达奚",
        "褚师", "完颜", "耶律", "贺兰", "淳于", "单于", "东野", "公输", "归海", "有琴",
        "伯赏", "叱干", "尔朱", "纳兰", "哥舒", "斛律", "沮渠", "乞伏",
    }
)  # fmt: skip

# Separators in transliterated minority and foreign names (麦麦提·赛帕克).
NAME_SEPARATORS: frozenset[str] = frozenset({"·", "•", "・", "‧", "∙", "⋅", "．"})

ADDRESS_KEEP_CHARS = 6
_ADDRESS_MASK = "****"


def mask_name(name: str) -> str:
    """Mask a personal name for public display.

    Rules: 张静 → 张*, 张小明 → 张*明, 张小静静 → 张**静; a compound surname
    stays whole (欧阳震华 → 欧阳*华, 欧阳华 → 欧阳*); in a "·" name only the
    first segment stays (麦麦提·赛帕克 → 麦麦提·***); a Latin-letter name keeps
    each word's first letter (John Smith → J*** S****); a 1-character name
    becomes "*". Surrounding whitespace is ignored. A name longer than one
    character is never returned unchanged.

    Args:
        name: The full name.

    Returns:
        The masked name; CJK names keep their length.
    """
    cleaned = name.strip()
    if not cleaned:
        return ""
    if any(char in NAME_SEPARATORS for char in cleaned):
        masked = _mask_segmented(cleaned)
    elif not any(_is_cjk(char) for char in cleaned):
        masked = _mask_words(cleaned)
    else:
        masked = _mask_cjk("".join(cleaned.split()))
    if masked == cleaned:
        # e.g. "A B" or a name that already contains "*": hide everything.
        return MASK * len(cleaned)
    return masked


def mask_bank_account(account: str) -> str:
    """Mask a bank card or account number: first 4 and last 4 digits only.

    The middle is always shown as two groups of four stars, so the length of
    the number is not revealed (``6222 **** **** 5676``).

    Args:
        account: The number, with or without spaces or dashes.

    Returns:
        The masked number; numbers of 8 characters or fewer keep at most
        their last 4.
    """
    compact = "".join(char for char in account if not char.isspace() and char != "-")
    if len(compact) > 8:
        return f"{compact[:4]} **** **** {compact[-4:]}"
    if len(compact) > 4:
        return f"**** {compact[-4:]}"
    return MASK * 4 if compact else ""


def mask_address(address: str) -> str:
    """Keep only the coarse start of an address (district, street or road).

    The rest is replaced by a fixed ``****`` so the length of the detail is
    not revealed (历下区解放路街道和平社区3号楼 → 历下区解放路****).

    Args:
        address: The full address.

    Returns:
        The first 6 characters followed by ``****``; an address of 6
        characters or fewer keeps only its first half. Empty input gives an
        empty string.
    """
    cleaned = "".join(address.split())
    if not cleaned:
        return ""
    keep = ADDRESS_KEEP_CHARS if len(cleaned) > ADDRESS_KEEP_CHARS else len(cleaned) // 2
    return cleaned[:keep] + _ADDRESS_MASK


def _mask_cjk(name: str) -> str:
    if len(name) == 1:
        return MASK
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        given = name[2:]
        if len(given) == 1:
            return name[:2] + MASK
        return name[:2] + MASK * (len(given) - 1) + given[-1]
    if len(name) == 2:
        return name[0] + MASK
    return name[0] + MASK * (len(name) - 2) + name[-1]


def _mask_segmented(name: str) -> str:
    segments: list[str] = []
    separators: list[str] = []
    current: list[str] = []
    for char in name:
        if char in NAME_SEPARATORS:
            segments.append("".join(current))
            separators.append(char)
            current = []
        else:
            current.append(char)
    segments.append("".join(current))

    first = segments[0].strip()
    if not first or not any(segment.strip() for segment in segments[1:]):
        # Stray separator ("·赛帕克", "麦麦提·"): mask like an ordinary name.
        remainder = "".join(segment.strip() for segment in segments)
        return mask_name(remainder) if remainder else MASK * len(name)

    masked = [segments[0]]
    for separator, segment in zip(separators, segments[1:], strict=True):
        masked.append(separator + "".join(char if char.isspace() else MASK for char in segment))
    return "".join(masked)


def _mask_words(name: str) -> str:
    words = name.split()
    return " ".join(word[0] + MASK * (len(word) - 1) for word in words)


def _is_cjk(char: str) -> bool:
    # Unified ideographs (incl. extensions and compatibility forms).
    return unicodedata.name(char, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH"))
