"""Chain headquarters' tools (docs/architecture.md, docs/configuration.md): one inventory CSV → per-store config files,
an Ansible inventory, the health of every store, and the chain-wide roll-up of monthly reports."""
