//! Tests for the result module (added in the following commits).
