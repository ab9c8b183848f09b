"""The console for auditors, administrators and security administrators: server-rendered
pages at /console, a client of the API like any other. It holds no database session and
imports no domain module (import-linter says so): every page is API calls made with the
signed-in user's own token, under the same policy and into the same audit log. It shows
staff identities and ids, never a resident's value (those roles are never given one)."""
