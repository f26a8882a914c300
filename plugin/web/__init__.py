"""The counter page (docs/architecture.md, docs/pos-integration.md): one server-rendered page and a small vanilla
script, served by the service itself so a pharmacist needs nothing but a browser. The page is just another client of the
`/v1` API."""
