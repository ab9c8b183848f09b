"""Printed documents: the papers each step produces (issue 16), as PDFs.

Each kind is described once (`catalogue`): its title, legal basis, the record it is printed
from, the state that record must have reached and the fields it reads. Printing is a
disclosure through `registry.disclosure` like any read (role, scope, purpose; each entry
names the document id); `paper` is what a builder lays out, `pdf` draws it.
"""
