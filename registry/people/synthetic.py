"""Deterministic synthetic people and organisations for tests, demos and benchmarks.

Nothing here describes a real person. Names are random pairings of common surnames with
common given-name characters; addresses use invented place and road names (测试市, 样本路);
dates, sequence numbers and phone digits are drawn at random. ID numbers, phone numbers
and credit codes are structurally valid (check characters included), so a value can
coincide with a real one by chance, but nothing attached to it is real.

The same seed always yields the same sequence, so a failing test or a benchmark run can
be reproduced exactly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from registry.people.identifiers import Sex, id_number_check_char, uscc_check_char

__all__ = ["REGION_CODES", "SyntheticPeople", "SyntheticPerson"]

# District-level codes; 320571 is the default jurisdiction in DOMAIN.md examples.
REGION_CODES = (
    "320571", "320505", "320506", "320508", "110105", "110108",
    "310115", "330106", "440305", "510107", "420111", "370212",
)  # fmt: skip

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵"
)
_GIVEN_MALE = "伟强磊军洋勇杰涛明超刚平辉鹏华飞鑫波斌宇浩凯健俊帆帅旭宁龙林峰建国文博志成"
_GIVEN_FEMALE = "芳娜敏静丽艳娟秀霞玉萍红玲芬燕彤琳婷雪慧莉倩颖佳梅洁琴云欣悦怡晶璐蕾瑶"
_GIVEN_ANY = "子安晨嘉思雨晓一泽佳文"

# Staff names: compound surnames and given characters no synthetic resident has, so a staff
# name shown where it belongs (the console, audit reports) never reads as a resident's
# (tests that search for residents' values find only real leaks).
_STAFF_SURNAMES = ("欧阳", "司徒", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐")
_STAFF_GIVEN = "德礼义信忠恕谦恭勤慎衡朗岳彬澄"

# Mobile prefixes in ordinary use (all within 1[3-9]).
_PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159", "166",
    "173", "175", "176", "177", "180", "181", "182", "183", "184", "185",
    "186", "187", "188", "189", "191", "198", "199",
)  # fmt: skip

_PROVINCES = ("测试省", "样例省", "示范省", "模拟省")
_CITIES = ("测试市", "样本市", "虚构市", "演示市")
_DISTRICTS = ("东湖区", "西山区", "南塘区", "北岸区", "中和区", "新港区", "高新区")
_ROADS = (
    "样本路", "演示路", "虚拟街", "模拟大道", "试验路", "示范街", "假想路", "例证巷",
    "测绘路", "数据街", "占位路", "草稿巷",
)  # fmt: skip

_COMPANY_WORDS = ("启明", "恒通", "华测", "嘉样", "远拓", "正例", "鼎模", "新程", "云演", "博试")  # fmt: skip
_INDUSTRIES = ("科技", "贸易", "物流", "餐饮管理", "建筑工程", "电子", "家政服务", "物业管理")  # fmt: skip
_COMPANY_FORMS = ("有限公司", "有限责任公司", "股份有限公司")

# Registration authority + organisation type pairs that occur in practice
# (9x market regulator: companies, sole traders, cooperatives; 5x civil affairs; 1x public
# institutions); most employers are companies, so "91" is drawn more often.
_USCC_HEADS = ("91", "91", "91", "91", "92", "93", "11", "12", "52", "53")
_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

_FIRST_BIRTH = date(1940, 1, 1).toordinal()
_BIRTH_SPAN = date(2008, 12, 31).toordinal() - _FIRST_BIRTH + 1


@dataclass(frozen=True)
class SyntheticPerson:
    id_number: str
    name: str
    sex: Sex
    birth_date: date
    phone: str
    hukou_address: str


class SyntheticPeople:
    """A seeded source of synthetic people; ID numbers and phones are unique per instance."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._id_numbers: set[str] = set()
        self._phones: set[str] = set()

    def person(self) -> SyntheticPerson:
        rng = self._rng
        sex: Sex = "male" if rng.random() < 0.5 else "female"
        born = date.fromordinal(_FIRST_BIRTH + rng.randrange(_BIRTH_SPAN))
        id_number = self._id_number(sex, born)
        given = _GIVEN_MALE if sex == "male" else _GIVEN_FEMALE
        name = rng.choice(_SURNAMES) + rng.choice(given)
        if rng.random() < 0.7:  # most given names have two characters
            name += rng.choice(given + _GIVEN_ANY)
        return SyntheticPerson(
            id_number=id_number,
            name=name,
            sex=sex,
            birth_date=born,
            phone=self._phone(),
            hukou_address=self.address(),
        )

    def staff_name(self) -> str:
        """A member of staff's display name (never a resident's: see _STAFF_SURNAMES)."""
        return self._rng.choice(_STAFF_SURNAMES) + "".join(self._rng.choices(_STAFF_GIVEN, k=2))

    def people(self, count: int) -> Iterator[SyntheticPerson]:
        for _ in range(count):
            yield self.person()

    def address(self) -> str:
        rng = self._rng
        address = (
            f"{rng.choice(_PROVINCES)}{rng.choice(_CITIES)}{rng.choice(_DISTRICTS)}"
            f"{rng.choice(_ROADS)}{rng.randint(1, 999)}号"
        )
        if rng.random() < 0.6:
            address += f"{rng.randint(1, 30)}幢{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
        return address

    def company_name(self) -> str:
        rng = self._rng
        return f"{rng.choice(_CITIES)}{rng.choice(_COMPANY_WORDS)}{rng.choice(_INDUSTRIES)}{rng.choice(_COMPANY_FORMS)}"

    def uscc(self) -> str:
        rng = self._rng
        first17 = rng.choice(_USCC_HEADS) + rng.choice(REGION_CODES) + "".join(rng.choices(_USCC_CHARSET, k=9))
        return first17 + uscc_check_char(first17)

    def _id_number(self, sex: Sex, born: date) -> str:
        rng = self._rng
        while True:
            # Sequence 000-999 whose parity encodes sex (odd = male, GB 11643).
            sequence = 2 * rng.randrange(500) + (1 if sex == "male" else 0)
            first17 = f"{rng.choice(REGION_CODES)}{born:%Y%m%d}{sequence:03d}"
            if first17 not in self._id_numbers:  # the check char adds no uniqueness
                self._id_numbers.add(first17)
                return first17 + id_number_check_char(first17)

    def _phone(self) -> str:
        rng = self._rng
        while True:
            phone = f"{rng.choice(_PHONE_PREFIXES)}{rng.randrange(100_000_000):08d}"
            if phone not in self._phones:
                self._phones.add(phone)
                return phone
