"""Incoming notices that open casefiles: a prison's release notice (a resettlement file in
`notified`) and a court's correction notice (a community-correction file in
`awaiting_report`), imported from NDJSON or CSV as a named account (`registry import
notices`). `formats` says what a row is, `receipts` which notices were received already,
`importer` runs a file."""
