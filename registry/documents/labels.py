"""The printed words for stored codes (a code never reaches paper as a code)."""

from __future__ import annotations

SEX = {"male": "男", "female": "女"}
CATEGORY = {"control": "管制", "probation": "缓刑", "parole": "假释", "temporary_out_of_prison": "暂予监外执行"}
DRUG_MEASURE = {"community_detox": "社区戒毒", "community_rehab": "社区康复"}
RELEASE_SOURCE = {"prison": "刑满释放", "correction": "社区矫正期满解除"}
PERMIT_BASIS = {"employment": "合法稳定就业", "residence": "合法稳定住所", "study": "连续就读"}
LEAVE_LEVEL = {"justice_office": "司法所", "county": "县级社区矫正机构", "above_county": "上一级社区矫正机构"}
LEAVE_DECISION = {"approved": "批准", "refused": "不批准", "returned": "批准（已销假）", "overdue": "批准（逾期未归）"}
YES_NO = {True: "是", False: "否"}
ROLE = {
    "police": "公安",
    "civil_affairs": "民政",
    "corrections": "社区矫正",
    "social_worker": "社会工作者",
    "auditor": "审计",
    "admin": "系统管理",
    "security_admin": "安全管理",
    "verifier": "核验服务",
}
OUTCOME = {"allowed": "允许", "denied": "拒绝"}
PURPOSE = {
    "registration": "登记管理",
    "supervision": "监督管理",
    "assistance": "帮扶",
    "investigation": "调查",
    "court_request": "司法请求",
    "verification": "核验",
    "data_subject_request": "个人查阅",
    "emergency": "紧急",
}
