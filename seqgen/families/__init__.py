"""Model families, one folder each, behind one contract (`seqgen.core.family.Family`)."""

from seqgen.core.family import Family, family_names, family_of, get_family, register_family_module

__all__ = ["Family", "family_names", "family_of", "get_family", "register_family_module"]
