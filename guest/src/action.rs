//! Actions on values. STUB.
