"""The permit in the holder's hand (issue 17): an SD-JWT VC a partner verifies offline with
the published keys and status list, never reaching the person's record."""
