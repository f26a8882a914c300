"""Chain headquarters' tools (DESIGN §1, §6): one inventory CSV → per-store config files, an Ansible inventory,
the health of every store, and the chain-wide roll-up of monthly reports."""
