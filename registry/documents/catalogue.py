"""Every document the service prints, described once: its title, legal basis, the record it
is printed from, when that record may print it, what it reads, and its layout.

Routes, the OpenAPI entries, the audit reason and the tests read this table. Layouts follow
what the law says each paper holds (the articles are on each paper); a value the record does
not hold is a blank line, and offence facts, test results, health data and the fields the
scope limits exclude are on no paper (社区矫正法 Art. 4, 54; 戒毒条例 Art. 7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from registry.casefiles.workflows.common import Kind
from registry.documents import labels as L
from registry.documents.facts import Facts, day
from registry.documents.paper import Line, Paper, Section


class Source(StrEnum):
    PERMIT = "permit"  # GET /residence-permits/{id}/documents/<code>
    CASEFILE = "casefile"  # GET /casefiles/{id}/documents/<code>
    LEAVE = "leave"  # GET /leave-requests/{id}/documents/<code>
    ACCESSES = "accesses"  # GET /audit/persons/{id}/documents/<code> (auditors)


class NoticeTo(StrEnum):
    """社区矫正法 Art. 44: the deciding authority, the local procuratorate and police."""

    decision_authority = "decision_authority"
    procuratorate = "procuratorate"
    police = "police"


IDENTITY = ("name", "sex", "birth_date", "id_number", "hukou_address")


@dataclass(frozen=True)
class DocumentKind:
    code: str  # the route's last segment and the audit entries' reason
    title: str
    source: Source
    summary: str  # the OpenAPI operation's description
    build: Callable[[Facts], Paper]
    casefile_kind: Kind | None = None
    # None when the record may print it; otherwise the 409's words (the rule and the law).
    not_ready: Callable[[dict[str, Any]], str | None] = lambda plain: None
    person: tuple[str, ...] = ()  # the subject's identity fields read
    record: tuple[str, ...] = ()  # the record's sealed fields read (`details.<key>` for a file)
    # An official act of the file's agency (a certificate, a notice, a decision): printed
    # only by staff holding the kind's own permission, never by an assigned social worker.
    authority: bool = False
    # A closing paper: reads the certificate number of the file's approved closure, and
    # prints its subject as to the file's holder for `document_closing_days` after it closed.
    certificate: bool = False


def _lines(*lines: Line | None) -> tuple[Line, ...]:
    return tuple(line for line in lines if line is not None)


def _plain(label: str, value: Any, show: Callable[[Any], str | None] = str) -> Line:
    return Line(label, None if value is None else show(value))


def _identity(f: Facts, *, short: bool = False) -> Section:
    lines = _lines(
        f.line("姓名", "person.name"),
        None if short else f.line("性别", "person.sex", L.SEX.get),
        None if short else f.line("出生日期", "person.birth_date", day),
        f.line("公民身份号码", "person.id_number"),
        None if short else f.line("户籍地", "person.hukou_address"),
    )
    # Not the printer's to see (another unit's person, a role without identity): said, not hidden.
    unseen = () if lines else ("对象身份信息不在打印人可查看的范围内，请依据法律文书填写。",)
    return Section("对象基本情况", lines, text=unseen)


# -- 居住证 ------------------------------------------------------------------------------


def _permit_receipt(f: Facts) -> Paper:
    p = f.plain
    missing = p["status"] == "needs_materials"
    items = f.values.get("permit.materials_missing") if "permit.materials_missing" in f.values else None
    sections = [
        Section(
            "申领人",
            _lines(f.line("姓名", "person.name"), f.line("公民身份号码", "person.id_number"))
            + _lines(
                f.line("居住地住址", "dwelling.address"),
                _plain("申领依据", p["basis"], L.PERMIT_BASIS.get),
                _plain("居住登记日期（居住起算）", p["resident_since"], day),
                _plain("申领日期", p["applied_on"], day),
            ),
        )
    ]
    if missing and "permit.materials_missing" in f.values:
        listed = tuple(
            Line(f"{n}", str(item), source="permit.materials_missing") for n, item in enumerate(items or [], 1)
        )
        sections.append(
            Section(
                "需要补充的材料（一次性告知）",
                listed or (Line("1", None),),
                text=("请补齐上述全部材料后再次提交；材料齐全的，予以受理并出具回执。",),
            )
        )
    if not missing:
        sections.append(
            Section(
                "受理",
                (
                    _plain("受理日期", p["accepted_on"], day),
                    _plain("受理编号", p["permit_id"]),
                    _plain("发证期限（自受理之日起）", f"{p['issue_days']}日"),
                    _plain("预计发放日期（不迟于）", p["issue_due_on"], day),
                ),
            )
        )
    sections.append(
        Section(
            "告知事项",
            text=(
                "申请人及相关证明材料出具人应当对本人提交的申请材料和证明材料的真实性、合法性负责（第九条）。",
                "首次申领居住证，免收证件工本费（第二十一条）。",
                f"受理机关：{p['unit']}",
            ),
        )
    )
    return Paper(
        "居住证申领补正材料一次性告知书" if missing else "居住证申领受理回执",
        "依据《居住证暂行条例》第九条、《浙江省流动人口居住登记条例》第十八条",
        tuple(sections),
        signatures=("经办人", "受理机关（章）", "申领人签收", "日期"),
    )


def _permit_not_ready(plain: dict[str, Any]) -> str | None:
    if plain["status"] in ("needs_materials", "accepted", "issued"):
        return None
    return "document.not_ready: a receipt follows the check of the materials (居住证暂行条例 Art. 9)"


# -- 社区矫正 ----------------------------------------------------------------------------


def _decision(f: Facts) -> Section:
    return Section(
        "矫正依据",
        _lines(
            f.line("矫正类别", "casefile.details.category", L.CATEGORY.get),
            f.line("社区矫正决定机关", "casefile.details.deciding_authority"),
            f.line("法律文书文号", "casefile.details.document_no"),
            f.line("判决、裁定、决定生效日期", "casefile.details.judgment_effective_on", day),
            f.line("矫正期限起", "casefile.details.term_starts_on", day),
            _plain("矫正期限止", f.plain["term_ends_on"], day),
        ),
    )


def _intake(f: Facts) -> Paper:
    p = f.plain
    return Paper(
        "社区矫正对象接收登记表",
        "依据《中华人民共和国社区矫正法》第二十一条、第二十二条",
        (
            _identity(f),
            Section("执行地", _lines(f.line("居住地（执行地）", "casefile.details.residence_address"))),
            _decision(f),
            Section(
                "报到与接收",
                (
                    _plain("报到期限", p["report_due_on"], day),
                    _plain("报到（接收）日期", p["intake_on"], day),
                    _plain("是否按期报到", p["intake_timely"], L.YES_NO.get),
                    _plain("执行地社区矫正机构", p["unit"]),
                    _plain("矫正小组成员", "、".join(p["team"]) or None),
                ),
                text=(
                    "法律文书已核对、身份已核实、应当遵守的规定已宣告（接收时逐项确认，第二十二条）。",
                    "犯罪事实、矫正期限及应当遵守的规定已向社区矫正对象宣告。",
                ),
            ),
            Section("禁止令", _lines(f.line("禁止令内容", "casefile.details.prohibition_order"))),
        ),
        signatures=("社区矫正对象签名", "工作人员签名", "社区矫正机构（章）", "日期"),
    )


def _leave(f: Facts) -> Paper:
    p = f.plain
    return Paper(
        "社区矫正对象外出审批表",
        "依据《中华人民共和国社区矫正法》第二十七条",
        (
            _identity(f, short=True),
            Section(
                "外出申请",
                _lines(
                    f.line("矫正类别", "casefile.details.category", L.CATEGORY.get),
                    _plain("执行地社区矫正机构", p["unit"]),
                    f.line("外出目的地", "leave.destination"),
                    f.line("外出事由", "leave.reason"),
                    _plain("外出起止日期", f"{day(p['starts_on'])}至{day(p['ends_on'])}"),
                    _plain("外出天数", f"{p['days']}日"),
                    _plain("应当审批的层级", p["required_level"], L.LEAVE_LEVEL.get),
                ),
            ),
            Section(
                "审批",
                _lines(
                    _plain("审批结果", p["status"], L.LEAVE_DECISION.get),
                    _plain("作出决定的层级", p["decided_level"], L.LEAVE_LEVEL.get),
                    _plain("决定日期", p["decided_on"], day),
                    f.line("审批意见", "leave.decision_note"),
                    _plain("销假日期", p["returned_on"], day),
                ),
            ),
        ),
        signatures=("司法所意见", "县级社区矫正机构意见", "上一级社区矫正机构意见", "社区矫正对象签收"),
    )


def _change_of_place(f: Facts) -> Paper:
    p = f.plain
    return Paper(
        "社区矫正执行地变更通知书",
        "依据《中华人民共和国社区矫正法》第二十七条第二款",
        (
            _identity(f, short=True),
            _decision(f),
            Section(
                "变更执行地",
                (
                    _plain("原执行地社区矫正机构", p["from_unit"]),
                    _plain("变更后的社区矫正机构", p["to_unit"]),
                    Line("变更事由", None),
                    _plain("变更决定日期", p["proposed_on"], day),
                    _plain("变更后机构同意接收日期", p["accepted_on"], day),
                    _plain("向变更后机构报到期限", p["report_due_on"], day),
                ),
                text=(
                    "通知社区矫正决定机关和变更后的社区矫正机构，并将有关法律文书抄送变更后的社区矫正机构；"
                    "变更后的社区矫正机构将法律文书转送所在地的人民检察院、公安机关。",
                ),
            ),
        ),
        addressee=f"{f.values.get('casefile.details.deciding_authority') or '社区矫正决定机关'}、{p['to_unit']}",
        addressee_source="casefile.details.deciding_authority"
        if f.has("casefile.details.deciding_authority")
        else None,
        signatures=("社区矫正机构（章）", "日期"),
    )


def _discharge_lines(f: Facts) -> tuple[Line, ...]:
    p = f.plain
    return _lines(
        f.line("矫正类别", "casefile.details.category", L.CATEGORY.get),
        f.line("原法律文书文号", "casefile.details.document_no"),
        f.line("矫正期限起", "casefile.details.term_starts_on", day),
        _plain("矫正期限止", p["term_ends_on"], day),
        _plain("解除事由", "矫正期满"),
        _plain("解除日期", p["discharged_on"], day),
        f.line("解除社区矫正证明书编号", "event.body.certificate_no"),
    )


def _certificate(f: Facts) -> Paper:
    return Paper(
        "解除社区矫正证明书",
        "依据《中华人民共和国社区矫正法》第四十四条",
        (
            _identity(f, short=False),
            Section("解除社区矫正", _discharge_lines(f), text=(f"发证机关：{f.plain['unit']}",)),
        ),
        signatures=("社区矫正机构（章）", "社区矫正对象签收", "日期"),
    )


NOTICE_TO = {
    NoticeTo.decision_authority: "社区矫正决定机关",
    NoticeTo.procuratorate: "所在地人民检察院",
    NoticeTo.police: "所在地公安机关",
}


def _discharge_notice(f: Facts) -> Paper:
    to = NoticeTo(f.plain["to"])
    named = to is NoticeTo.decision_authority and f.has("casefile.details.deciding_authority")
    addressee = f.values["casefile.details.deciding_authority"] if named else NOTICE_TO[to]
    return Paper(
        "解除社区矫正通知书",
        "依据《中华人民共和国社区矫正法》第四十四条",
        (
            Section(None, text=("下列社区矫正对象矫正期满，已依法解除社区矫正并发放解除社区矫正证明书，特此通知。",)),
            _identity(f, short=True),
            Section("解除社区矫正", _discharge_lines(f), text=(f"发文机构：{f.plain['unit']}",)),
        ),
        addressee=addressee,
        addressee_source="casefile.details.deciding_authority" if named else None,
        signatures=("社区矫正机构（章）", "日期"),
    )


def _closed(status: str, rule: str) -> Callable[[dict[str, Any]], str | None]:
    def not_ready(plain: dict[str, Any]) -> str | None:
        return None if plain["status"] == status else rule

    return not_ready


def _seen_in_person(why: str) -> Callable[[dict[str, Any]], str | None]:
    """Papers of what happens once the subject was seen in person (intake, the report, the
    release: `casefiles.access.past_intake`), never of a file that closed before."""

    def not_ready(plain: dict[str, Any]) -> str | None:
        return None if plain["past_intake"] else f"document.not_ready: {why}"

    return not_ready


_after_intake = _seen_in_person("the subject has not reported (社区矫正法 Art. 21, 22)")


def _has_transfer(plain: dict[str, Any]) -> str | None:
    if plain.get("to_unit") is None:
        return "document.not_ready: no change of execution place was decided for this file (社区矫正法 Art. 27)"
    return None


def _decided_leave(plain: dict[str, Any]) -> str | None:
    if plain["status"] == "requested":
        return "document.not_ready: the leave is not decided yet (社区矫正法 Art. 27)"
    return None


# -- 安置帮教 ----------------------------------------------------------------------------

RELEASE = (
    "details.source",
    "details.releasing_institution",
    "details.release_on",
    "details.release_certificate_no",
    "details.key_person",
    "details.residence_address",
)


def _release_lines(f: Facts) -> tuple[Line, ...]:
    return _lines(
        f.line("释放类别", "casefile.details.source", L.RELEASE_SOURCE.get),
        f.line("释放机关", "casefile.details.releasing_institution"),
        f.line("释放日期", "casefile.details.release_on", day),
        f.line("释放证明书编号", "casefile.details.release_certificate_no"),
        f.line("重点帮教对象", "casefile.details.key_person", L.YES_NO.get),
        f.line("释放后居住地", "casefile.details.residence_address"),
    )


def _release_notice(f: Facts) -> Paper:
    p = f.plain
    return Paper(
        "刑满释放人员衔接通知书",
        "依据《上海市安置帮教工作规定》第七条",
        (
            Section(
                None,
                text=(
                    "监管场所应当在刑释解教前三十日，将有关信息通知区县司法行政部门、公安机关以及乡镇、街道司法行政机构。",
                ),
            ),
            _identity(f),
            Section("释放", _release_lines(f)),
            Section(
                "通知",
                (
                    _plain("通知日期", p["opened_on"], day),
                    _plain("接收司法所", p["unit"]),
                    _plain("交接期限", p["handover_due_on"], day),
                ),
            ),
        ),
        addressee="区县司法行政部门、公安机关、乡镇（街道）司法所",
        signatures=("监管场所（章）", "日期"),
    )


def _release_receipt(f: Facts) -> Paper:
    p = f.plain
    return Paper(
        "刑满释放人员衔接回执",
        "依据《上海市安置帮教工作规定》第七条、第八条",
        (
            _identity(f, short=True),
            Section("释放", _release_lines(f)),
            Section(
                "衔接",
                (
                    _plain("收到通知日期", p["opened_on"], day),
                    _plain("释放（接收）日期", p["released_on"], day),
                    _plain("交接日期", p["handed_over_on"], day),
                    _plain("接收司法所", p["unit"]),
                    Line("告知家属接回日期", None),
                    Line("接回家属姓名", None),
                ),
            ),
        ),
        signatures=("接收人签名", "司法所（章）", "日期"),
    )


_released = _seen_in_person("the person was not released to the office (上海市安置帮教工作规定 Art. 7)")


# -- 社区戒毒 ----------------------------------------------------------------------------

DRUG_ORDER = (
    "details.measure",
    "details.deciding_authority",
    "details.order_no",
    "details.order_served_on",
    "details.term_months",
    "details.executing_org_unit",  # printed as the unit's name (`executing_unit`)
)


def _measure(f: Facts) -> str:
    # The measure is an offence field to a social worker: then the title names both.
    return L.DRUG_MEASURE.get(f.values.get("casefile.details.measure") or "", "社区戒毒（康复）")


def _order_lines(f: Facts) -> tuple[Line, ...]:
    return _lines(
        f.line("措施", "casefile.details.measure", L.DRUG_MEASURE.get),
        f.line("决定机关", "casefile.details.deciding_authority"),
        f.line("决定书文号", "casefile.details.order_no"),
        f.line("决定书送达日期", "casefile.details.order_served_on", day),
    )


def _agreement(f: Facts) -> Paper:
    p, measure = f.plain, _measure(f)
    return Paper(
        f"{measure}协议",
        "依据《戒毒条例》第十六条至第二十一条、第三十八条，《中华人民共和国禁毒法》第三十三条至第三十五条、第三十八条",
        (
            Section(
                "甲方",
                _lines(f.line("乡（镇）人民政府、城市街道办事处", "casefile.details.executing_org_unit")),
            ),
            Section("乙方", _identity(f, short=True).lines, text=_identity(f, short=True).text),
            Section(
                "决定与期限",
                _order_lines(f)
                + _lines(
                    _plain("报到日期", p["intake_on"], day),
                    f.line("期限（月，自报到之日起计算）", "casefile.details.term_months"),
                    _plain("期满日期", p["term_ends_on"], day),
                    _plain("工作小组成员", "、".join(p["team"]) or None),
                ),
            ),
            Section(
                "具体措施（第十八条）",
                text=(
                    "（一）戒毒知识辅导；（二）教育、劝诫；（三）职业技能培训，职业指导，就学、就业、就医援助；（四）帮助戒毒人员戒除毒瘾的其他措施。",
                ),
            ),
            Section(
                "乙方应当遵守的规定（第十九条）",
                text=(
                    "（一）履行本协议；（二）根据公安机关的要求，定期接受检测；"
                    "（三）离开执行地所在县（市、区）3日以上的，须书面报告。",
                ),
            ),
            Section(
                "违反协议的责任（第二十条、第二十一条）",
                text=(
                    "逃避或者拒绝接受检测3次以上，擅自离开执行地所在县（市、区）3次以上或者累计超过30日的，属于严重违反协议，"
                    "由甲方及时向当地公安机关报告，依法可责令强制隔离戒毒（禁毒法第三十八条）。",
                ),
            ),
        ),
        signatures=("甲方（章）", "乙方签名", "签订日期"),
    )


def _drug_discharge(f: Facts) -> Paper:
    p, measure = f.plain, _measure(f)
    return Paper(
        f"解除{measure}通知书",
        "依据《戒毒条例》第二十三条、第四十条",
        (
            Section(None, text=(f"{measure}期满，自期满之日起解除。本通知书送达本人及其家属。",)),
            _identity(f, short=True),
            Section(
                f"解除{measure}",
                _order_lines(f)
                + _lines(
                    _plain("起始（报到）日期", p["intake_on"], day),
                    _plain("期满（解除）日期", p["discharged_on"], day),
                    f.line("通知书编号", "event.body.certificate_no"),
                    _plain("执行地公安机关", p["unit"]),
                    f.line("执行地乡（镇）、街道", "casefile.details.executing_org_unit"),
                    Line("通知乡（镇）、街道日期（7日内）", None),
                ),
            ),
        ),
        addressee="本人及其家属",
        signatures=("执行地公安机关（章）", "本人签收", "家属签收", "日期"),
    )


_drug_active = _seen_in_person("the agreement is signed once the person reports (戒毒条例 Art. 16)")


# -- 个人信息查阅 ------------------------------------------------------------------------


def _access_report(f: Facts) -> Paper:
    p = f.plain
    rows = [("时间", "访问单位", "角色", "行为", "目的", "结果")] + [tuple(r) for r in p["entries"]]
    notes = [f"个人记录编号：{p['person_id']}", f"记录条数：{p['shown']}（共 {p['total']} 条）"]
    return Paper(
        "个人信息访问记录报告",
        "依据《中华人民共和国个人信息保护法》第四十四条、第四十五条、第五十条",
        (
            Section("申请", (Line("申请人姓名", None), Line("身份证件号码", None), Line("申请日期", None))),
            Section("访问记录", text=tuple(notes), table=tuple(rows)),
            Section(
                "告知事项",
                text=(
                    "本报告列明本机关各单位访问您个人信息的时间、单位、行为与目的，工作人员以单位和角色表示。",
                    "依法应当保密或者告知将妨碍国家机关履行法定职责的部分不予提供（第十八条、第三十五条），不予提供的将说明理由；"
                    "您可以依法请求更正、补充、删除或者解释说明（第四十六条至第四十八条），并可以依法向人民法院提起诉讼（第五十条）。",
                ),
            ),
        ),
        signatures=("经办人", "机关（章）", "申请人签收", "日期"),
    )


CORRECTION, RESETTLEMENT, DRUG = Kind.community_correction, Kind.resettlement, Kind.drug_rehabilitation
DECISION = ("details.category", "details.deciding_authority", "details.document_no", "details.judgment_effective_on")
TERM = ("details.term_starts_on",)

KINDS: tuple[DocumentKind, ...] = (
    DocumentKind(
        "application-receipt",
        "居住证申领受理回执 / 补正材料一次性告知书",
        Source.PERMIT,
        "The receipt of a permit application: once the materials are complete, the acceptance "
        "date and the issue deadline; while materials are missing, the one-time list of them "
        "(居住证暂行条例 Art. 9).",
        _permit_receipt,
        not_ready=_permit_not_ready,
        person=("name", "id_number"),
        record=("materials_missing",),
    ),
    DocumentKind(
        "intake-registration",
        "社区矫正对象接收登记表",
        Source.CASEFILE,
        "The intake registration of a community-correction subject (社区矫正法 Art. 21-22).",
        _intake,
        CORRECTION,
        _after_intake,
        IDENTITY,
        DECISION + TERM + ("details.residence_address", "details.prohibition_order"),
    ),
    DocumentKind(
        "leave-approval",
        "社区矫正对象外出审批表",
        Source.LEAVE,
        "The approval form of a decided leave, with the level that decided it (社区矫正法 Art. 27).",
        _leave,
        CORRECTION,
        _decided_leave,
        ("name", "id_number"),
        ("destination", "reason", "decision_note", "details.category"),
        authority=True,
    ),
    DocumentKind(
        "change-of-place-notice",
        "社区矫正执行地变更通知书",
        Source.CASEFILE,
        "The notice of the file's latest change of execution place (社区矫正法 Art. 27 para. 2).",
        _change_of_place,
        CORRECTION,
        _has_transfer,
        ("name", "id_number"),
        DECISION + TERM,
        authority=True,
    ),
    DocumentKind(
        "discharge-certificate",
        "解除社区矫正证明书",
        Source.CASEFILE,
        "The discharge certificate of a discharged subject (社区矫正法 Art. 44).",
        _certificate,
        CORRECTION,
        _closed("discharged", "document.not_ready: the file is not discharged (社区矫正法 Art. 44)"),
        IDENTITY,
        ("details.category", "details.document_no") + TERM,
        authority=True,
        certificate=True,
    ),
    DocumentKind(
        "discharge-notice",
        "解除社区矫正通知书",
        Source.CASEFILE,
        "The Art. 44 notice of a discharge to the deciding authority, the local procuratorate "
        "or the local police (`to`) (社区矫正法 Art. 44).",
        _discharge_notice,
        CORRECTION,
        _closed("discharged", "document.not_ready: the file is not discharged (社区矫正法 Art. 44)"),
        ("name", "id_number"),
        ("details.category", "details.deciding_authority", "details.document_no") + TERM,
        authority=True,
        certificate=True,
    ),
    DocumentKind(
        "release-notice",
        "刑满释放人员衔接通知书",
        Source.CASEFILE,
        "The release notice from the releasing institution to the 司法所, as the file recorded "
        "it (上海市安置帮教工作规定 Art. 7).",
        _release_notice,
        RESETTLEMENT,
        person=IDENTITY,
        record=RELEASE,
        authority=True,
    ),
    DocumentKind(
        "release-receipt",
        "刑满释放人员衔接回执",
        Source.CASEFILE,
        "The 司法所's receipt of a released person (上海市安置帮教工作规定 Art. 7-8).",
        _release_receipt,
        RESETTLEMENT,
        _released,
        ("name", "id_number"),
        RELEASE,
        authority=True,
    ),
    DocumentKind(
        "rehabilitation-agreement",
        "社区戒毒（康复）协议",
        Source.CASEFILE,
        "The community detox (or rehabilitation) agreement signed when the person reports (戒毒条例 Art. 16, 38).",
        _agreement,
        DRUG,
        _drug_active,
        ("name", "id_number"),
        DRUG_ORDER,
    ),
    DocumentKind(
        "rehabilitation-discharge-notice",
        "解除社区戒毒（康复）通知书",
        Source.CASEFILE,
        "The police's discharge notice at the end of the term (戒毒条例 Art. 23, 40).",
        _drug_discharge,
        DRUG,
        _closed("discharged", "document.not_ready: the file is not discharged (戒毒条例 Art. 23)"),
        ("name", "id_number"),
        DRUG_ORDER,
        authority=True,
        certificate=True,
    ),
    DocumentKind(
        "access-report",
        "个人信息访问记录报告",
        Source.ACCESSES,
        "For a data-subject request (个人信息保护法 Art. 45): who (unit and role), when, what and "
        "why the person's records were accessed. For auditors; no personal value is on it.",
        _access_report,
    ),
)


def kinds_of(source: Source) -> tuple[DocumentKind, ...]:
    return tuple(k for k in KINDS if k.source is source)
