"""The languages the product speaks, to customers in messages and to staff on pages."""

from enum import StrEnum


class Locale(StrEnum):
    zh_CN = "zh-CN"
    en = "en"


LOCALES: tuple[Locale, ...] = tuple(Locale)
