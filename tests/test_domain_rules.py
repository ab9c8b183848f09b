"""Every rule row of DOMAIN.md (and of README.md's "Domain decisions", which override it)
mapped to the tests that check it (issue 14, "DOMAIN.md's rule rows each have a test").

The table is written by hand: adding a rule to DOMAIN.md means adding a row here, and
renaming or deleting a test listed here fails `test_every_listed_test_exists`. An entry is
a pytest node id without its parameters (`file::test`, every parametrisation counts) or
with them (`file::test[id]`, that one case). A rule the product does not implement yet has
no test: it is listed in NOT_BUILT with the issue that builds it, so the gap stays visible.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

IDS = "tests/people/test_identifiers.py"
PERSONS = "tests/api/test_persons.py"
ADMIN = "tests/api/test_admin.py"
JURISDICTION = "tests/api/test_jurisdiction.py"
RULES = "tests/residence/test_rules.py"
PERMIT_RULES = "tests/residence/test_permit_lifecycle.py"
SUPPRESSION = "tests/residence/test_suppression.py"
RESIDENCE = "tests/api/test_residence.py"
PERMIT_HTTP = "tests/api/test_permit_lifecycle_http.py"
DWELLING_PATCH = "tests/api/test_dwelling_patch.py"
STATS = "tests/api/test_stats.py"
DISCLOSURE = "tests/test_disclosure.py"
LEAK = "tests/test_leak.py"
WORKFLOWS = "tests/casefiles/test_workflows.py"
DERIVED = "tests/casefiles/test_derived_values.py"
DETAILS = "tests/casefiles/test_details.py"
CATALOGUE = "tests/casefiles/test_event_catalogue.py"
LEAVE = "tests/casefiles/test_leave.py"
CF_RETENTION = "tests/casefiles/test_retention.py"
CASEFILES = "tests/api/test_casefiles.py"
LIFECYCLE = "tests/api/test_casefile_lifecycle_http.py"
CATALOGUE_HTTP = "tests/api/test_event_catalogue_http.py"
MOVEMENTS = "tests/api/test_movements.py"
CLOSURE = "tests/api/test_closure_approval.py"
RETENTION = "tests/api/test_retention.py"
PERSON_RETENTION = "tests/api/test_person_retention.py"
D_RESIDENCE = "tests/api/test_domain_residence.py"
D_CASEFILES = "tests/api/test_domain_casefiles.py"

# rule id → (the rule, as DOMAIN.md / README.md states it, with its source; the tests)
RULES_TO_TESTS: dict[str, tuple[str, list[str]]] = {
    # -- org units -----------------------------------------------------------------------
    "org_unit.codes": (
        "codes of 6 (city/district), 9 (street/town), 12 (community) digits, fitting the tree",
        [f"{ADMIN}::test_org_unit_codes_must_fit_the_tree"],
    ),
    "org_unit.subtree_scope": (
        "a staff account sees its unit's subtree only",
        [
            f"{RESIDENCE}::test_other_district_gets_404_everywhere_but_finds_masked_by_exact_id",
            f"{JURISDICTION}::test_lookups_by_id_stay_in_scope",
        ],
    ),
    # -- person --------------------------------------------------------------------------
    "person.id_check_digit": (
        "GB 11643: 18th character is (12 − Σdᵢwᵢ mod 11) mod 11, 10 written X",
        [
            f"{IDS}::test_known_valid_id_number",
            f"{IDS}::test_any_single_character_change_is_refused",
            f"{IDS}::test_adjacent_transposition_is_refused",
            f"{IDS}::test_wrong_check_character_message",
        ],
    ),
    "person.id_region_code": (
        "GB 11643: positions 1-6 are a region code",
        [f"{IDS}::test_region_prefix_must_be_a_province"],
    ),
    "person.id_birth_date": (
        "GB 11643: positions 7-14 are a real date, not in the future",
        [
            f"{IDS}::test_birth_date_today_accepted_tomorrow_refused",
            f"{IDS}::test_leap_day_accepted",
            f"{IDS}::test_refused_with_rule",
        ],
    ),
    "person.sex_and_birth_derived": (
        "sex (odd sequence = male) and birth date come from the ID number; a disagreeing value is a 422",
        [f"{PERSONS}::test_identity_rules_refuse_with_422"],
    ),
    "person.phone": (
        "mainland mobile 1[3-9]\\d{9}, normalised to that form",
        [
            f"{IDS}::test_phone_variants",
            f"{IDS}::test_phone_refusals",
            f"{PERSONS}::test_identity_rules_refuse_with_422",
        ],
    ),
    "person.never_stored": (
        "never stored: ethnicity, religion, belief, political affiliation, petition history, location traces",
        [
            f"{D_RESIDENCE}::test_a_person_field_outside_the_domain_is_refused_pipl_art_6",
            f"{DETAILS}::test_out_of_scope_fields_are_refused",
            f"{DETAILS}::test_no_model_has_an_out_of_scope_field",
            f"{CATALOGUE}::test_no_type_or_key_names_an_out_of_scope_datum",
            f"{CATALOGUE}::test_gps_check_is_not_a_type_and_a_religion_key_is_refused",
        ],
    ),
    # -- residence -----------------------------------------------------------------------
    "dwelling.rental_landlord_pledge": (
        "租赁房屋治安管理规定 Art. 6-7: a rental names its landlord and the pledge date (signable later)",
        [
            f"{PERMIT_RULES}::test_art6_dwelling_landlord_and_pledge",
            f"{PERMIT_RULES}::test_art6_rental_with_pledge_signed_later",
            f"{DWELLING_PATCH}::test_art6_pledge_signed_later_with_if_match",
            f"{DWELLING_PATCH}::test_art6_new_landlord_signs_a_pledge_of_their_own",
        ],
    ),
    "dwelling.occupants": (
        "a dwelling lists its active occupants",
        [f"{RESIDENCE}::test_dwelling_read_occupants_and_rules"],
    ),
    "registration.registered_on_bounds": (
        "registered_on defaults to today, never in the future, never before arrived_on",
        [
            f"{RULES}::test_registration_dates_refused",
            f"{RULES}::test_registration_dates_accepted",
            f"{RESIDENCE}::test_registration_rule_refusals",
        ],
    ),
    "registration.employer": (
        "basis employment needs the employer name and a GB 32100 credit code with its check character",
        [
            f"{IDS}::test_known_valid_uscc",
            f"{IDS}::test_uscc_single_character_change_is_refused",
            f"{RESIDENCE}::test_registration_rule_refusals",
        ],
    ),
    "registration.timeliness_3_days": (
        "reported within 3 days of arrival (setting); the registration records whether it was late",
        [
            f"{RULES}::test_is_late_boundary",
            f"{RESIDENCE}::test_late_registration_is_flagged",
            f"{RESIDENCE}::test_registration_lateness_rules_and_transitions",
        ],
    ),
    "registration.timely_rate_in_statistics": (
        "statistics report the timely-registration rate",
        [f"{STATS}::test_registration_counts_and_suppression"],
    ),
    "registration.states": (
        "active → moved (closes it, opens one at the new dwelling) | departed (with departed_on)",
        [f"{RESIDENCE}::test_registration_lateness_rules_and_transitions"],
    ),
    "registration.move_report_10_days": (
        "a move is reported within 10 days (setting); later is late",
        [f"{D_RESIDENCE}::test_a_move_reported_within_10_days_is_timely_and_later_is_late"],
    ),
    "permit.eligibility_6_months": (
        "居住证暂行条例 Art. 2: 6 months from the first registration in the city, surviving moves; else 422",
        [
            f"{RULES}::test_six_months_boundary",
            f"{RULES}::test_registration_must_be_active",
            f"{PERMIT_RULES}::test_art2_clock_runs_from_the_first_registration_across_moves",
            f"{PERMIT_RULES}::test_art2_clock_breaks_on_departure_or_another_city",
            f"{RESIDENCE}::test_permit_eligibility_needs_six_months",
            f"{PERMIT_HTTP}::test_art2_clock_from_first_registration_in_city_survives_a_move",
        ],
    ),
    "permit.eligibility_basis": (
        "居住证暂行条例 Art. 2: basis employment | residence | study",
        [f"{RULES}::test_basis_must_be_allowed", f"{RULES}::test_allowed_bases"],
    ),
    "permit.states": (
        "applied → needs_materials → accepted → issued | rejected; issued → cancelled",
        [
            f"{RULES}::test_transition_table",
            f"{RULES}::test_every_pair_is_defined_or_a_conflict",
            f"{RULES}::test_no_transition_reaches_suspended_or_leaves_a_terminal_state",
        ],
    ),
    "permit.one_materials_notice": (
        "居住证暂行条例 Art. 9: one notice listing everything missing",
        [f"{RULES}::test_materials_are_requested_once", f"{RESIDENCE}::test_permit_life_over_two_simulated_years"],
    ),
    "permit.issue_within_15_days": (
        "居住证暂行条例 Art. 9: issued within 15 days of acceptance (setting ≤ 30)",
        [
            f"{RULES}::test_issue_deadline",
            f"{RULES}::test_issue_days_setting_range",
            f"{RULES}::test_issue_days_allowed",
            f"{RESIDENCE}::test_issue_overdue_worklist",
        ],
    ),
    "permit.rejection_reason": (
        "rejected needs a reason",
        [f"{D_RESIDENCE}::test_art9_a_rejection_needs_a_reason"],
    ),
    "permit.cancelled_on_departure": (
        "issued → cancelled (departed, replaced, other); departure cancels or ends an open application",
        [
            f"{PERMIT_HTTP}::test_permit_life_move_transfer_departure_over_simulated_clock",
            f"{PERMIT_HTTP}::test_departure_ends_an_application_not_yet_issued",
        ],
    ),
    "permit.move_keeps_transfer_moves": (
        "README: a move keeps the permit, an accepted transfer moves it",
        [f"{PERMIT_HTTP}::test_permit_life_move_transfer_departure_over_simulated_clock"],
    ),
    "permit.one_live_per_person": (
        "README / 居住证暂行条例 Art. 11: one live permit per person, held under races",
        [
            f"{PERMIT_RULES}::test_art11_one_live_permit",
            f"{PERMIT_HTTP}::test_art11_one_live_permit_held_by_the_database",
            f"{PERMIT_HTTP}::test_art11_concurrent_applications_make_one_permit",
        ],
    ),
    "permit.issue_county_level": (
        "README / 居住证暂行条例 Art. 10: issuing by police of county level or above (setting)",
        [
            f"{PERMIT_RULES}::test_art10_issuing_at_county_level_or_above",
            f"{PERMIT_RULES}::test_art10_issue_depth_is_a_setting",
        ],
    ),
    "permit.endorsement_window": (
        "居住证暂行条例 Art. 10: endorsement due in the month before each anniversary of issue",
        [
            f"{RULES}::test_endorsement_window",
            f"{RULES}::test_window_opening_day_is_accepted",
            f"{RULES}::test_endorsement_on_the_anniversary_is_on_time",
            f"{RULES}::test_feb_29_issue_date",
        ],
    ),
    "permit.suspended_derived": (
        "居住证暂行条例 Art. 10: no endorsement after the anniversary → suspended, derived from dates",
        [f"{RULES}::test_effective_status", f"{RESIDENCE}::test_permit_life_over_two_simulated_years"],
    ),
    "permit.late_endorsement_reactivates": (
        "居住证暂行条例 Art. 10: a late endorsement reactivates and restarts the continuous years",
        [
            f"{RULES}::test_late_endorsement_covers_every_missed_anniversary",
            f"{RULES}::test_endorsement_life_over_two_years",
            f"{RESIDENCE}::test_permit_life_over_two_simulated_years",
        ],
    ),
    "permit.number_opaque": (
        "permit number unique, opaque, not derived from personal data",
        [f"{D_RESIDENCE}::test_art17_permit_numbers_are_unique_opaque_and_not_derived_from_personal_data"],
    ),
    "permit.verification_yes_no": (
        "居住证暂行条例 Art. 12-13, 17: a partner asks 'is permit N of this name valid today?' and gets yes/no",
        [
            f"{RESIDENCE}::test_verifier_learns_only_yes_or_no_and_is_rate_limited",
            f"{DISCLOSURE}::test_matches_answers_yes_or_no_and_nothing_else",
        ],
    ),
    "permit.credential_status_list": (
        "holder credential (QR) with a derived fact; its revocation status list is a published projection",
        [],
    ),
    "permit.worklist_issue_overdue": (
        "worklist: applications overdue for issue",
        [f"{RESIDENCE}::test_issue_overdue_worklist", f"{STATS}::test_permit_statuses_worklists_and_past_days"],
    ),
    "permit.worklist_endorsement_due_30_days": (
        "worklist: endorsements due in the next 30 days",
        [
            f"{RULES}::test_endorsement_due_within",
            f"{RESIDENCE}::test_permit_life_over_two_simulated_years",
            f"{STATS}::test_permit_statuses_worklists_and_past_days",
        ],
    ),
    "permit.worklist_suspended": (
        "worklist: suspended permits",
        [
            f"{RESIDENCE}::test_permit_life_over_two_simulated_years",
            f"{STATS}::test_permit_statuses_worklists_and_past_days",
        ],
    ),
    # -- casefiles, all kinds ----------------------------------------------------------------
    "casefile.three_kinds": (
        "three kinds only, each with its workflow; terminal states are dead ends",
        [
            f"{WORKFLOWS}::test_kinds_and_registry",
            f"{WORKFLOWS}::test_every_state_reachable_and_terminal_states_are_dead_ends",
        ],
    ),
    "casefile.minor_flag": (
        "刑诉法 Art. 286: minor = under 18 at the offence when its date is recorded, else at opening",
        [
            f"{DERIVED}::test_minor_is_the_age_at_the_offence_when_recorded_else_at_opening",
            f"{LIFECYCLE}::test_minor_flag_from_the_offence_date_else_the_opening",
        ],
    ),
    "casefile.closing_date_is_approval": (
        "a closing date is the date the closure was approved",
        [f"{CLOSURE}::test_a_closure_waits_for_the_parent_unit_and_closes_on_the_approval_date"],
    ),
    "casefile.derived_values_from_the_record": (
        "README: deadlines, terms, minor flag come from the record; facts carry only the checklist",
        [
            f"{DERIVED}::test_each_transition_takes_only_its_own_checklist",
            f"{DERIVED}::test_no_facts_dict_overrides_the_record_or_passes_a_forbidden_move",
            f"{DERIVED}::test_no_details_key_sets_a_derived_value",
        ],
    ),
    "casefile.event_catalogue": (
        "README: every event type has a closed schema and the roles that may record it",
        [
            f"{CATALOGUE}::test_every_type_has_a_closed_schema_file_with_types_formats_and_lengths",
            f"{CATALOGUE_HTTP}::test_unknown_types_keys_and_system_types_are_audited_422s",
        ],
    ),
    "casefile.corrections_register_subjects": (
        "README: corrections register a subject's identity within their unit",
        [f"{LIFECYCLE}::test_corrections_register_a_subject_only_within_their_unit"],
    ),
    # -- community correction ------------------------------------------------------------
    "correction.states": (
        "社区矫正法: awaiting_report → missing → received → supervised → discharged | revoked | deceased",
        [f"{WORKFLOWS}::test_correction_table", f"{WORKFLOWS}::test_correction_full_life"],
    ),
    "correction.report_10_days": (
        "社区矫正法 Art. 21: report within 10 days of the judgment taking effect",
        [
            f"{WORKFLOWS}::test_correction_report_deadline",
            f"{DERIVED}::test_correction_report_due_and_term_come_from_the_judgment",
            f"{CASEFILES}::test_worklists_report_overdue_missing_and_terms_ending",
        ],
    ),
    "correction.missing": (
        "社区矫正法 Art. 30: not reported → missing (only after the deadline)",
        [
            f"{WORKFLOWS}::test_correction_missing_only_after_the_deadline",
            f"{LIFECYCLE}::test_correction_missing_then_revoked_and_deceased",
        ],
    ),
    "correction.intake_checklist": (
        "社区矫正法 Art. 22: received needs documents checked, identity verified, rules read",
        [f"{WORKFLOWS}::test_correction_intake_checklist_lists_what_is_missing"],
    ),
    "correction.discharge": (
        "社区矫正法 Art. 44: discharged needs the term ended and a certificate number",
        [
            f"{WORKFLOWS}::test_correction_discharge_needs_certificate_and_ended_term",
            f"{LIFECYCLE}::test_correction_discharged_after_a_court_reduced_its_term",
        ],
    ),
    "correction.detained": (
        "supervised ⇄ detained (with a reason)",
        [f"{WORKFLOWS}::test_correction_table", f"{WORKFLOWS}::test_correction_revocation_and_detention_need_a_reason"],
    ),
    "correction.plan_versioned": (
        "社区矫正法 Art. 24: the plan is versioned",
        [f"{D_CASEFILES}::test_art24_the_correction_plan_is_versioned"],
    ),
    "correction.female_team_member": (
        "社区矫正法 Art. 25: a female subject's team includes a female member",
        [
            f"{WORKFLOWS}::test_female_team_rule",
            f"{WORKFLOWS}::test_female_team_rule_property",
            f"{CASEFILES}::test_female_subject_needs_a_female_team_member",
        ],
    ),
    "correction.leave_levels": (
        "社区矫正法 Art. 27: ≤ 7 days justice office, longer county, > 30 days or > 30 in 60 the level above",
        [
            f"{LEAVE}::test_levels_by_length",
            f"{LEAVE}::test_more_than_30_days_within_60_counting_prior_leaves",
            f"{LEAVE}::test_settings_are_respected_and_checked",
            f"{MOVEMENTS}::test_ten_day_leave_is_refused_at_justice_office_and_approved_at_county",
            f"{MOVEMENTS}::test_five_day_leave_is_approved_at_justice_office",
            f"{MOVEMENTS}::test_more_than_thirty_days_within_sixty_needs_the_level_above_county",
        ],
    ),
    "correction.leave_states": (
        "leave: requested → approved | refused → on_leave → returned | overdue",
        [
            f"{LEAVE}::test_leave_table",
            f"{LEAVE}::test_effective_status",
            f"{MOVEMENTS}::test_return_on_time_and_overdue",
        ],
    ),
    "correction.change_of_execution_place": (
        "社区矫正法 Art. 27: two-step transfer (propose, accept); the subject reports within 7 days",
        [
            f"{WORKFLOWS}::test_correction_report_deadline",
            f"{MOVEMENTS}::test_transfer_moves_the_file_and_its_access",
            f"{MOVEMENTS}::test_transfer_can_be_cancelled_and_proposer_cannot_accept",
        ],
    ),
    "correction.sanction_hints": (
        "社区矫正法 Art. 28: sanctions are counted, hints shown (two warnings → revocation may be proposed)",
        [
            f"{WORKFLOWS}::test_sanction_hints",
            f"{WORKFLOWS}::test_sanction_hints_count_warnings",
            f"{CASEFILES}::test_counting_hints_two_warnings_and_three_missed_tests",
        ],
    ),
    "correction.sanctions_by_the_agency": (
        "README / 社区矫正法 Art. 9, 28: sanctions by corrections staff of county level or above",
        [
            f"{CATALOGUE}::test_sanctions_are_decided_by_the_correction_agency_at_county_level",
            f"{CATALOGUE_HTTP}::test_a_social_worker_cannot_record_a_warning_art_28",
            f"{CATALOGUE_HTTP}::test_a_justice_office_cannot_decide_a_warning_art_9_28",
        ],
    ),
    "correction.control_not_revoked": (
        "README / 社区矫正法 Art. 28: 管制 has no revocation",
        [
            f"{CATALOGUE}::test_revocation_of_control_is_refused_art_28",
            f"{CATALOGUE_HTTP}::test_control_cannot_be_revoked_art_28",
        ],
    ),
    # -- resettlement --------------------------------------------------------------------
    "resettlement.states": (
        "notified → released → handed_over → assisting → closed | transferred",
        [f"{WORKFLOWS}::test_resettlement_table", f"{WORKFLOWS}::test_resettlement_full_life"],
    ),
    "resettlement.notified_30_days_before": (
        "上海市安置帮教工作规定 Art. 7: notice about 30 days before release",
        [
            f"{WORKFLOWS}::test_resettlement_dates",
            f"{LIFECYCLE}::test_resettlement_closed_after_five_years_and_transferred",
        ],
    ),
    "resettlement.handover_key_persons": (
        "key persons are met at release (必接必送)",
        [
            f"{WORKFLOWS}::test_handover_is_for_key_persons_only",
            f"{DERIVED}::test_resettlement_handover_for_key_persons_and_five_years_of_assistance",
        ],
    ),
    "resettlement.assisting_5_years": (
        "assisting for 5 years from release (setting)",
        [
            f"{WORKFLOWS}::test_resettlement_dates",
            f"{WORKFLOWS}::test_resettlement_close_early_needs_a_reason",
            f"{LIFECYCLE}::test_resettlement_closed_after_five_years_and_transferred",
        ],
    ),
    "resettlement.from_discharged_correction": (
        "a discharged correction case can open a resettlement case (starting at released)",
        [
            f"{WORKFLOWS}::test_resettlement_dates",
            f"{CASEFILES}::test_resettlement_and_drug_files_open_in_their_initial_states",
        ],
    ),
    # -- drug rehabilitation -------------------------------------------------------------
    "drug.states": (
        "awaiting_report → active ⇄ suspended → discharged | terminated",
        [f"{WORKFLOWS}::test_drug_table", f"{WORKFLOWS}::test_drug_full_life", f"{WORKFLOWS}::test_drug_rules"],
    ),
    "drug.awaiting_report_15_days": (
        "戒毒条例 Art. 14: report within 15 days, else reported to police as refusal",
        [
            f"{WORKFLOWS}::test_drug_dates",
            f"{WORKFLOWS}::test_drug_rules",
            f"{DERIVED}::test_drug_term_runs_from_the_report_and_a_suspension_does_not_count",
            f"{D_CASEFILES}::test_jiedu_art14_a_drug_report_overdue_after_15_days_is_on_the_worklist",
        ],
    ),
    "drug.term_3_years": (
        "禁毒法 Art. 33, 48: term 3 years from the report date, rehab up to 3 years as ordered",
        [
            f"{WORKFLOWS}::test_drug_dates",
            f"{DERIVED}::test_drug_term_runs_from_the_report_and_a_suspension_does_not_count",
            f"{LIFECYCLE}::test_drug_rehab_term_is_the_ordered_months",
        ],
    ),
    "drug.suspended": (
        "active ⇄ suspended (detention), with a reason",
        [
            f"{WORKFLOWS}::test_drug_table",
            f"{DERIVED}::test_drug_term_runs_from_the_report_and_a_suspension_does_not_count",
        ],
    ),
    "drug.discharged": (
        "戒毒条例 Art. 23, 40: discharged when the term ended, with the police notice number",
        [
            f"{WORKFLOWS}::test_drug_rules",
            f"{LIFECYCLE}::test_drug_file_discharged_after_its_derived_term_and_terminated",
        ],
    ),
    "drug.discharge_notice_7_days": (
        "戒毒条例 Art. 23, 40: the street/town is told within 7 days of discharge",
        [f"{LIFECYCLE}::test_drug_file_discharged_after_its_derived_term_and_terminated"],
    ),
    "drug.serious_violation": (
        "戒毒条例 Art. 20: 3 missed tests or 3 unauthorised absences (≥ 3 days; > 30 days in all) to report",
        [
            f"{WORKFLOWS}::test_drug_missed_tests_hint",
            f"{WORKFLOWS}::test_drug_absence_hints",
            f"{CASEFILES}::test_counting_hints_two_warnings_and_three_missed_tests",
            f"{CATALOGUE_HTTP}::test_absences_count_in_days_art_20",
        ],
    ),
    "drug.three_years_without_relapse": (
        "戒毒条例 Art. 7: 3 years without relapse ends dynamic control; a relapse restarts them",
        [
            f"{WORKFLOWS}::test_drug_dates",
            f"{CATALOGUE}::test_relapse_restarts_the_three_years_art_7",
            f"{CATALOGUE_HTTP}::test_relapse_restarts_the_three_years_art_7",
        ],
    ),
    # -- minors --------------------------------------------------------------------------
    "minor.sealed_within_3_days": (
        "社区矫正法 Art. 54, 刑诉法 Art. 286: a minor's file is sealed within 3 days of discharge",
        [
            f"{CF_RETENTION}::test_minor_casefile_sealed_3_days_after_discharge",
            f"{RETENTION}::test_minor_file_sealed_three_days_after_discharge_then_court_request_only",
        ],
    ),
    "minor.sealed_only_by_court_request": (
        "sealed files open only through break-glass with purpose court_request",
        [
            f"{CASEFILES}::test_sealed_file_opens_only_through_break_glass_with_court_request",
            f"{RETENTION}::test_minor_file_sealed_three_days_after_discharge_then_court_request_only",
        ],
    ),
    # -- retention (PIPL Art. 19, 47) -------------------------------------------------------
    "retention.registration": (
        "residence registration: departed + 5 years → erased (crypto-shredded)",
        [
            f"{CF_RETENTION}::test_registration_and_permit_erased_after_5_years",
            f"{RESIDENCE}::test_departed_registration_and_cancelled_permit_are_erased_five_years_on",
        ],
    ),
    "retention.permit": (
        "residence permit: cancelled + 5 years → erased",
        [
            f"{CF_RETENTION}::test_registration_and_permit_erased_after_5_years",
            f"{RESIDENCE}::test_departed_registration_and_cancelled_permit_are_erased_five_years_on",
            f"{PERSON_RETENTION}::test_a_refused_application_is_erased_and_no_longer_keeps_the_identity",
        ],
    ),
    "retention.casefile_adult": (
        "adult casefile: closed + 5 years → sealed; erased after 30 years",
        [
            f"{CF_RETENTION}::test_adult_casefile_sealed_after_5_years_erased_after_30",
            f"{RETENTION}::test_legal_hold_stops_the_clock_and_expired_file_is_crypto_shredded",
        ],
    ),
    "retention.casefile_minor": (
        "minor casefile: discharged + 3 days → sealed",
        [
            f"{CF_RETENTION}::test_minor_casefile_sealed_3_days_after_discharge",
            f"{RETENTION}::test_minor_file_sealed_three_days_after_discharge_then_court_request_only",
        ],
    ),
    "retention.drug": (
        "drug rehabilitation: discharged + 3 years without relapse → sealed",
        [f"{CF_RETENTION}::test_drug_casefile_sealed_after_3_years_without_relapse"],
    ),
    "retention.audit_log": (
        "audit log: kept; it holds no personal values",
        [f"{LEAK}::test_no_personal_value_in_storage_logs_or_audit"],
    ),
    "retention.person_identity": (
        "README / PIPL Art. 47: an identity is erased once nothing of the person is live",
        [
            f"{PERSON_RETENTION}::test_identity_is_erased_with_the_last_record_pipl_art_47",
            f"{PERSON_RETENTION}::test_an_identity_without_records_goes_after_the_set_days",
        ],
    ),
    "retention.legal_hold": (
        "a legal hold suspends the retention clock (persons, registrations, permits, casefiles)",
        [
            f"{CF_RETENTION}::test_legal_hold_stops_erasure_but_never_a_minors_sealing_art_54",
            f"{RETENTION}::test_legal_hold_stops_the_clock_and_expired_file_is_crypto_shredded",
            f"{PERSON_RETENTION}::test_a_held_person_keeps_identity_and_records_until_lifted",
            f"{PERSON_RETENTION}::test_a_held_registration_keeps_itself_and_its_person",
        ],
    ),
    # -- statistics ----------------------------------------------------------------------
    "stats.suppression_below_5": (
        "any cell below 5 is null with suppressed: true",
        [
            f"{SUPPRESSION}::test_zero_is_suppressed",
            f"{SUPPRESSION}::test_threshold_itself_is_published",
            f"{STATS}::test_registration_counts_and_suppression",
        ],
    ),
    "stats.complementary_suppression": (
        "a suppressed cell cannot be recovered by subtraction from a total",
        [
            f"{SUPPRESSION}::test_one_small_cell_gets_the_next_smallest_as_complement",
            f"{SUPPRESSION}::test_no_part_recovered_by_subtraction",
            f"{SUPPRESSION}::test_every_part_suppressed_and_still_exposed_suppresses_the_total",
        ],
    ),
}


def _listed_files() -> list[str]:
    return sorted({node.split("::", 1)[0] for _, nodes in RULES_TO_TESTS.values() for node in nodes})


def _collected() -> set[str]:
    """The node ids pytest collects from the listed files (collection only, no fixtures run)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
        ]
        + _listed_files(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


NOT_BUILT = {
    "permit.credential_status_list": "issue 17 (the holder's offline-verifiable credential)",
}
"""Rules of DOMAIN.md the product does not implement yet, with the issue that will."""


def test_every_rule_has_a_test() -> None:
    untested = [rule for rule, (_, nodes) in RULES_TO_TESTS.items() if not nodes]
    assert sorted(untested) == sorted(NOT_BUILT)
    assert all(text.strip() for text, _ in RULES_TO_TESTS.values())


def test_every_listed_test_exists() -> None:
    collected = _collected()
    functions = {re.sub(r"\[.*\]$", "", node) for node in collected}
    missing = sorted(
        node
        for _, nodes in RULES_TO_TESTS.values()
        for node in nodes
        if node not in (collected if node.endswith("]") else functions)
    )
    assert missing == [], f"listed in RULES_TO_TESTS but not collected: {missing}"
