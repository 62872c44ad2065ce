//! Conditions on the input lead. STUB.
