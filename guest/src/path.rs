//! Path patterns: JSON Pointers with `*` and `[POINTER=TEXT]`. STUB.
