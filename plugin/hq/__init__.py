"""Chain headquarters (`rxlane hq …`, docs/hq.md): stores behind NAT push their health and monthly reports; HQ keeps
them in a database (SQLite for a trial, PostgreSQL for a chain), shows every store on one page, and publishes the
province's dual-channel list, which stores pull with their heartbeat."""
