"""Local-vs-cloud cost: the pricing file, the arithmetic, and the ledger of every run."""

from lexbrief.costs.compare import CloudCost, CostComparison, LocalCost, compare, compare_numbers
from lexbrief.costs.pricing import CloudPrice, Pricing, PricingError, load_pricing, pricing_path

__all__ = [
    "CloudCost",
    "CloudPrice",
    "CostComparison",
    "LocalCost",
    "Pricing",
    "PricingError",
    "compare",
    "compare_numbers",
    "load_pricing",
    "pricing_path",
]
