"""Model families, one folder each, behind one contract (`seqgen.families.base.Family`)."""

from seqgen.families.base import Family, family_names, family_of, get_family, register_family_module

__all__ = ["Family", "family_names", "family_of", "get_family", "register_family_module"]
