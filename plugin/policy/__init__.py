"""The policy engine: region policy files (docs/configuration.md) and the 12-step settlement split
(docs/policies.md §3).

Pure rule code shared by the plug-in's local estimate, ``rxlane policy quote`` and the sandbox's insurer double.
"""
from plugin.policy.load import list_regions, load_policy, load_region, policy_from_mapping
from plugin.policy.model import (CategoryRule, Deductible, Policy, QuoteLine, QuoteRequest, Split, SplitLine,
                                 Supplementary, Ytd)
from plugin.policy.split import split

__all__ = ["Policy", "CategoryRule", "Deductible", "Supplementary", "QuoteRequest", "QuoteLine", "Ytd", "Split",
           "SplitLine", "load_policy", "load_region", "policy_from_mapping", "list_regions", "split"]
