"""The POS API's error codes: the catalogue lives below HTTP in ``plugin/errors.py`` so that the rules, the ledger,
the configuration and the sandbox raise the same errors without importing Flask. This name is kept for integrators
whose tooling reads the codes from here."""
from plugin.errors import *  # noqa: F403
from plugin.errors import ERRORS, REASONS, ErrorSpec, RxlaneError, reason  # noqa: F401
